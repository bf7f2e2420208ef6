package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/kioskpay/smartretail/internal/plugin/outbox"
	"github.com/kioskpay/smartretail/shared/config"
)

// salvageReport is what "queue salvage" prints: where the outbox and the
// damaged copy are, and what was and was not copied.
type salvageReport struct {
	Outbox      string          `json:"outbox"`
	DamagedCopy string          `json:"damaged_copy"`
	Orders      []salvagedOrder `json:"orders"`
	Events      int             `json:"events_copied"`
	Corrupt     int             `json:"set_aside_records_copied"`
	Unreadable  []string        `json:"unreadable,omitempty"`
	BadRecords  []string        `json:"bad_records,omitempty"`
	OutsideTree []salvagedOrder `json:"found_outside_the_tree_not_copied,omitempty"`
	Next        string          `json:"next"`
}

type salvagedOrder struct {
	OutOrderNo string `json:"out_order_no"`
	State      string `json:"state"`
}

// salvage runs in this process, not through a plugin: the plugin refuses a
// damaged outbox. It holds the outbox's lock while it works, so no plugin
// may run on the outbox meanwhile (stop the kiosk's first).
func salvage(h hostFlags, stdout, stderr io.Writer) int {
	cfg, err := config.Load(h.config)
	if err != nil {
		return printError(stderr, err)
	}
	rep, kept, err := outbox.SalvageInPlace(cfg.OutboxPath, cfg.OutboxKeyFile, outbox.DefaultLockTimeout)
	if err != nil {
		return printError(stderr, err)
	}
	fmt.Fprint(stderr, rep.String())
	out := salvageReport{Outbox: cfg.OutboxPath, DamagedCopy: kept, Events: rep.Events, Corrupt: rep.Corrupt,
		BadRecords: rep.BadRecords, Orders: []salvagedOrder{},
		Next: "start the plugin: it opens the new outbox and sends what waits; check the orders listed as unreadable or outside the tree by querying WeChat Pay by out_order_no; keep the damaged copy until they are settled"}
	for _, o := range rep.Orders {
		out.Orders = append(out.Orders, salvagedOrder{o.OutOrderNo, string(o.State)})
	}
	for _, o := range rep.OutsideTree {
		out.OutsideTree = append(out.OutsideTree, salvagedOrder{o.OutOrderNo, string(o.State)})
	}
	for _, d := range rep.Unreadable {
		out.Unreadable = append(out.Unreadable, d.String())
	}
	data, _ := json.MarshalIndent(out, "", "  ")
	fmt.Fprintln(stdout, string(data))
	return 0
}
