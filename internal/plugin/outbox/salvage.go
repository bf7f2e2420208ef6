package outbox

import (
	"bytes"
	"crypto/cipher"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// SalvagedOrder is one order a salvage found: its number and its state.
type SalvagedOrder struct {
	OutOrderNo string
	State      State
}

// SalvageReport says what Salvage copied and what it could not read.
type SalvageReport struct {
	// Orders copied into the new outbox, in out_order_no order.
	Orders []SalvagedOrder
	// Events copied, and the new outbox's event sequence: the highest
	// copied or the damaged file's own, so no sequence number is reused.
	Events   int
	EventSeq uint64
	// Corrupt: records set aside in the damaged outbox, copied as they are.
	Corrupt int
	// Unreadable: the parts of the tree that could not be read, with the
	// key range each covered when its parent still says so.
	Unreadable []DamagedPage
	// BadRecords: records in the tree that do not open with the key (or
	// are out of place): "orders/KEY", "events/SEQ". Their orders are set
	// aside in the new outbox's corrupt list, not copied as orders.
	BadRecords []string
	// OutsideTree: orders found only in pages outside the tree (free
	// pages hold old versions and deleted records). Not copied: one could
	// be an order already sent, dropped or pruned.
	OutsideTree []SalvagedOrder
}

// String is the report for a person: counts, then every order and every
// part that could not be read.
func (r *SalvageReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "copied %d orders, %d events (event sequence %d), %d set-aside records\n", len(r.Orders), r.Events, r.EventSeq, r.Corrupt)
	for _, o := range r.Orders {
		fmt.Fprintf(&b, "  order %s %s\n", o.OutOrderNo, o.State)
	}
	if len(r.Unreadable) == 0 && len(r.BadRecords) == 0 {
		b.WriteString("nothing in the tree was unreadable\n")
	}
	for _, d := range r.Unreadable {
		fmt.Fprintf(&b, "  could not read %s\n", d)
	}
	for _, k := range r.BadRecords {
		fmt.Fprintf(&b, "  record %s does not open: not copied\n", k)
	}
	for _, o := range r.OutsideTree {
		fmt.Fprintf(&b, "  order %s (%s) found outside the tree, not copied: check it at WeChat Pay\n", o.OutOrderNo, o.State)
	}
	return b.String()
}

// rawRecord is a key and its stored value, copied out of the file.
type rawRecord struct{ key, value []byte }

// salvagedOrder is an order record that opened, with its sealed value.
type salvagedOrder struct {
	rawRecord
	order  *Order
	reseal bool // given a new queue position: sealed anew
}

// Salvage copies what can still be read of the damaged outbox file src
// into a new outbox at dst, sealed with the same key (keyFile; outbox.key
// beside src when empty) so the configuration keeps working once dst
// takes src's place: every order record in the tree that opens with the
// key, the events that open, and the records set aside. It reads src with
// its own page walker, never with bbolt, skipping what is damaged. Records
// found only in pages outside the tree are not copied (bbolt is
// copy-on-write: those pages hold old versions and deleted records).
// dst must not exist.
func Salvage(src, dst string, keyFile string) (SalvageReport, error) {
	var rep SalvageReport
	if keyFile == "" {
		keyFile = filepath.Join(filepath.Dir(src), "outbox.key")
	}
	if sameFile(src, dst) {
		return rep, fmt.Errorf("outbox salvage: the new outbox %s must be another file than %s", dst, src)
	}
	if _, err := os.Lstat(dst); err == nil {
		return rep, fmt.Errorf("outbox salvage: %s already exists: give a path for the new outbox where there is no file", dst)
	} else if !errors.Is(err, os.ErrNotExist) {
		return rep, fmt.Errorf("outbox salvage: %w", err)
	}
	key, err := loadOrCreateKey(keyFile, false, syncDir)
	if err != nil {
		return rep, fmt.Errorf("outbox salvage: %w", err)
	}
	aead, err := newAEAD(key)
	if err != nil {
		return rep, fmt.Errorf("outbox salvage: key %s: %w", keyFile, err)
	}

	bf, err := openBoltFile(src, true)
	if err != nil {
		return rep, fmt.Errorf("outbox salvage: %w", err)
	}
	defer bf.Close()
	if err := proveKey(bf, aead); err != nil {
		return rep, fmt.Errorf("outbox salvage: %w", err)
	}
	found := readTree(bf, aead, &rep)
	rep.OutsideTree = ordersOutsideTree(bf, aead, found.seen, found.orders)

	s, err := Open(Options{Path: dst, KeyFile: keyFile})
	if err != nil {
		return rep, fmt.Errorf("outbox salvage: creating %s: %w", dst, err)
	}
	if err := s.restore(found); err != nil {
		s.Close()
		return rep, fmt.Errorf("outbox salvage: writing %s: %w", dst, err)
	}
	if err := s.Close(); err != nil {
		return rep, fmt.Errorf("outbox salvage: %w", err)
	}
	for _, o := range found.orders {
		rep.Orders = append(rep.Orders, SalvagedOrder{OutOrderNo: o.order.OutOrderNo, State: o.order.State()})
	}
	rep.Events, rep.EventSeq, rep.Corrupt = len(found.events), found.eventSeq, len(found.corrupt)
	return rep, nil
}

func sameFile(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(fa, fb)
}

// proveKey checks the key against the outbox's key check record when it
// can be read: salvaging with another key would find no order and say
// only that nothing opened.
func proveKey(bf *boltFile, aead cipher.AEAD) error {
	w := newWalker(bf, false)
	var check []byte
	opens := false // some record opens with the key: it is this outbox's
	w.onRecord = func(path []string, k, v []byte) {
		switch {
		case len(path) == 1 && path[0] == string(bucketMeta) && bytes.Equal(k, keyCheck):
			check = append([]byte(nil), v...)
		case !opens && len(path) == 1 && (path[0] == string(bucketOrders) || path[0] == string(bucketEvents)):
			_, err := unseal(aead, place([]byte(path[0]), k), v)
			opens = err == nil
		}
	}
	_ = w.walk()
	if check == nil {
		return nil // unreadable: each record still proves itself
	}
	if plain, err := unseal(aead, keyCheck, check); (err != nil || string(plain) != keyCheckValue) && !opens {
		// The check record may be the damaged one: only when no record
		// opens either is it the wrong key.
		return ErrWrongKey
	}
	return nil
}

// salvaged is what readTree found in the tree.
type salvaged struct {
	orders   []*salvagedOrder
	events   []rawRecord
	corrupt  []rawRecord
	orderSeq uint64 // the orders bucket's sequence, when read
	eventSeq uint64 // the events sequence to give the new outbox
	seen     []uint64
}

// readTree walks src's tree, keeping what opens.
func readTree(bf *boltFile, aead cipher.AEAD, rep *SalvageReport) *salvaged {
	var out salvaged
	w := newWalker(bf, false)
	keys := map[string]bool{}
	bad := func(bucket, key []byte, why string) {
		rep.BadRecords = append(rep.BadRecords, fmt.Sprintf("%s/%s (%s)", bucket, showKey([]string{string(bucket)}, key), why))
	}
	w.onDamage = func(d DamagedPage) { rep.Unreadable = append(rep.Unreadable, d) }
	w.onBucket = func(path []string, seq uint64) {
		if len(path) != 1 {
			return
		}
		switch path[0] {
		case string(bucketOrders):
			out.orderSeq = seq
		case string(bucketEvents):
			out.eventSeq = max(out.eventSeq, seq)
		}
	}
	w.onRecord = func(path []string, k, v []byte) {
		if len(path) != 1 {
			return // the outbox has no nested buckets
		}
		rec := rawRecord{key: bytes.Clone(k), value: bytes.Clone(v)}
		name := []byte(path[0])
		if bytes.Equal(name, bucketCorrupt) {
			out.corrupt = append(out.corrupt, rec)
			return
		}
		if !bytes.Equal(name, bucketOrders) && !bytes.Equal(name, bucketEvents) {
			return // indexes and counters: rebuilt from the records
		}
		where := string(place(name, k))
		if keys[where] {
			bad(name, k, "found twice")
			return
		}
		keys[where] = true
		plain, err := unseal(aead, place(name, k), v)
		if err != nil {
			bad(name, k, "does not open with the key")
			if bytes.Equal(name, bucketOrders) {
				out.corrupt = append(out.corrupt, rawRecord{key: place(name, k), value: rec.value})
			}
			return
		}
		if bytes.Equal(name, bucketEvents) {
			var ev Event
			if len(k) != 8 || json.Unmarshal(plain, &ev) != nil {
				bad(name, k, "is not an event")
				return
			}
			out.events = append(out.events, rec)
			out.eventSeq = max(out.eventSeq, binary.BigEndian.Uint64(k))
			return
		}
		o, err := decodeOrder(plain)
		if err == nil && o.OutOrderNo != string(k) {
			err = errors.New("stored under another key")
		}
		if err != nil {
			bad(name, k, "is not an order")
			out.corrupt = append(out.corrupt, rawRecord{key: place(name, k), value: rec.value})
			return
		}
		out.orders = append(out.orders, &salvagedOrder{rawRecord: rec, order: o})
	}
	_ = w.walk() // never fails when not strict
	out.seen = w.seen

	// Every order keeps a queue position of its own and the queue keeps
	// counting up from the highest: a shared one (only damage makes that)
	// goes to the later order found.
	top := out.orderSeq
	for _, o := range out.orders {
		top = max(top, o.order.Seq)
	}
	used := map[uint64]bool{}
	for _, o := range out.orders {
		if o.order.Seq == 0 || used[o.order.Seq] {
			top++
			o.order.Seq, o.reseal = top, true
		}
		used[o.order.Seq] = true
	}
	out.orderSeq = top
	return &out
}

// ordersOutsideTree lists the orders in leaf pages the tree does not
// reach (below the file's end), except those the tree holds: for the
// report only, never copied.
func ordersOutsideTree(bf *boltFile, aead cipher.AEAD, seen []uint64, inTree []*salvagedOrder) []SalvagedOrder {
	have := map[string]bool{}
	for _, o := range inTree {
		have[o.order.OutOrderNo] = true
	}
	reached := func(p uint64) bool { return p/64 < uint64(len(seen)) && seen[p/64]&(1<<(p%64)) != 0 }
	var out []SalvagedOrder
	filePages := uint64(bf.size) / uint64(bf.pageSize)
	// Read every page below the file's end, not only the meta's: bbolt
	// grows the file ahead, and old pages can lie past the high-water mark.
	full := *bf
	full.hwm, full.pages = filePages, filePages
	var buf []byte
	var els []element
	for id := uint64(2); id < filePages; id++ {
		if reached(id) {
			continue
		}
		var p page
		var err error
		p, buf, err = full.readPage(id, buf)
		if err != nil || p.flags != flagLeaf {
			continue
		}
		if els, err = p.elements(bf.pageSize, els); err != nil {
			continue
		}
		for _, el := range els {
			if el.flags&leafFlagBucket != 0 || have[string(el.key)] {
				continue
			}
			plain, err := unseal(aead, place(bucketOrders, el.key), el.value)
			if err != nil {
				continue
			}
			o, err := decodeOrder(plain)
			if err != nil || o.OutOrderNo != string(el.key) {
				continue
			}
			have[o.OutOrderNo] = true
			out = append(out, SalvagedOrder{OutOrderNo: o.OutOrderNo, State: o.State()})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].OutOrderNo < out[j].OutOrderNo })
	return out
}

// restore writes what a salvage found into this (new, empty) outbox: the
// order records as they were sealed (bound to the same bucket and key, so
// they open here), their queue and failed entries and counters, the
// events under their own sequence numbers, and the set-aside records.
func (s *Store) restore(found *salvaged) error {
	const batch = 500
	for i := 0; i < len(found.orders); i += batch {
		part := found.orders[i:min(i+batch, len(found.orders))]
		err := s.update(func(tx *Tx) error {
			b := tx.tx.Bucket(bucketOrders)
			if err := b.SetSequence(found.orderSeq); err != nil {
				return err
			}
			for _, o := range part {
				var err error
				if o.reseal {
					err = tx.writeRecord(o.order.clone())
				} else {
					err = b.Put(o.key, o.value)
				}
				if err != nil {
					return err
				}
				if err := tx.index(o.order); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	for i := 0; i < len(found.events) || i == 0; i += batch {
		part := found.events[min(i, len(found.events)):min(i+batch, len(found.events))]
		err := s.update(func(tx *Tx) error {
			b := tx.tx.Bucket(bucketEvents)
			for _, ev := range part {
				if err := b.Put(ev.key, ev.value); err != nil {
					return err
				}
			}
			return b.SetSequence(found.eventSeq)
		})
		if err != nil {
			return err
		}
	}
	return s.update(func(tx *Tx) error {
		b := tx.tx.Bucket(bucketCorrupt)
		for _, r := range found.corrupt {
			if err := b.Put(r.key, r.value); err != nil {
				return err
			}
		}
		if err := tx.tx.Bucket(bucketOrders).SetSequence(found.orderSeq); err != nil {
			return err
		}
		tx.events = len(found.events) > 0
		return nil
	})
}
