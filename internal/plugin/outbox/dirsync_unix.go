//go:build !windows

package outbox

import (
	"fmt"
	"os"
)

// syncDir makes a creation or rename in dir durable: until the folder is
// synced, a power cut may undo it even though the file's own data was
// synced.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing folder %s: %w", dir, err)
	}
	serr := d.Sync()
	cerr := d.Close()
	if serr != nil {
		return fmt.Errorf("syncing folder %s: %w", dir, serr)
	}
	if cerr != nil {
		return fmt.Errorf("syncing folder %s: %w", dir, cerr)
	}
	return nil
}
