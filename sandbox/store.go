package sandbox

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
)

// OrdersFile is the order log inside Options.Dir: JSON lines, one full
// order snapshot per change, the last line for an out_order_no wins.
const OrdersFile = "orders.jsonl"

// store appends order snapshots; each change costs one write, never a
// rewrite of the file.
type store struct {
	path string
	f    *os.File
}

// openStore replays the log, compacts it to one line per order and opens
// it for appending.
func openStore(dir string, logf func(string, ...any)) (*store, []*Order, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("sandbox: create dir: %w", err)
	}
	path := filepath.Join(dir, OrdersFile)
	orders, err := replay(path, logf)
	if err != nil {
		return nil, nil, err
	}
	list := make([]*Order, 0, len(orders))
	for _, o := range orders {
		list = append(list, o)
	}
	sort.Slice(list, func(i, j int) bool {
		if !list[i].CreatedAt.Equal(list[j].CreatedAt) {
			return list[i].CreatedAt.Before(list[j].CreatedAt)
		}
		return list[i].OutOrderNo < list[j].OutOrderNo
	})

	var buf bytes.Buffer
	for _, o := range list {
		buf.Write(marshal(o))
		buf.WriteByte('\n')
	}
	if err := writeFileAtomic(path, buf.Bytes(), 0o600); err != nil {
		return nil, nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("sandbox: open %s: %w", path, err)
	}
	return &store{path: path, f: f}, list, nil
}

func replay(path string, logf func(string, ...any)) (map[string]*Order, error) {
	orders := map[string]*Order{}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return orders, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sandbox: open %s: %w", path, err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	var pending error // a bad line is fatal only if another line follows it
	for lineNo := 1; ; lineNo++ {
		line, rerr := r.ReadBytes('\n')
		if rerr != nil && rerr != io.EOF {
			return nil, fmt.Errorf("sandbox: read %s: %w", path, rerr)
		}
		if len(bytes.TrimSpace(line)) > 0 {
			if pending != nil {
				return nil, pending
			}
			var o Order
			if err := json.Unmarshal(line, &o); err != nil || o.OutOrderNo == "" || o.QueryID == "" {
				if err == nil {
					err = errors.New("out_order_no or query_id missing")
				}
				pending = fmt.Errorf("sandbox: %s line %d is corrupt: %v", path, lineNo, err)
			} else {
				orders[o.OutOrderNo] = &o
			}
		}
		if rerr == io.EOF {
			break
		}
	}
	if pending != nil {
		// A torn last line: the process died while appending it.
		logf("sandbox: warning: ignoring torn last line: %v", pending)
	}
	return orders, nil
}

func (st *store) append(o *Order) error {
	line := append(marshal(o), '\n')
	_, err := st.f.Write(line) // one write per snapshot; O_APPEND keeps lines whole
	return err
}

func (st *store) close() error { return st.f.Close() }
