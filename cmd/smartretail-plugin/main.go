// Command smartretail-plugin is the smartretail go-plugin binary. Kiosk
// software starts it through hashicorp/go-plugin (see the README); run by
// hand it says so and exits.
package main

import "github.com/kioskpay/smartretail/internal/plugin"

func main() {
	plugin.Serve()
}
