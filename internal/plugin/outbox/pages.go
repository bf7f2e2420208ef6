package outbox

// A structural check of the outbox's bbolt file, done before bbolt opens it.
//
// Why: the outbox opens bbolt with NoFreelistSync, so bolt.Open rebuilds the
// freelist by walking every reachable page in a goroutine of its own, on a
// memory map. A damaged page there is an unrecoverable panic, or a memory
// fault, on every start. This reads the file with ReadAt only (no mmap: it
// cannot fault), bounds every index before using it, and mirrors what bbolt
// v1.5.0 reads at open and when every bucket is read (db.go getPageSize,
// mmap, meta, freepages; tx_check.go; internal/common/page.go), and what its
// writer always produces (a page's elements followed by their data, packed),
// so that damage is refused here rather than met by bbolt.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"strconv"
	"strings"
)

// ErrDamaged is wrapped by every error CheckFile returns for a file that is
// not a sound bbolt file: errors.Is(err, ErrDamaged) tells damage from the
// failure to read the file at all.
var ErrDamaged = errors.New("the outbox file is damaged")

// DamageError says where an outbox file is damaged.
type DamageError struct {
	Path   string
	Detail string // the page and what is wrong with it
}

func (e *DamageError) Error() string {
	return fmt.Sprintf("outbox %s is damaged and cannot be opened safely: %s", e.Path, e.Detail)
}

// Unwrap makes errors.Is(err, ErrDamaged) hold.
func (e *DamageError) Unwrap() error { return ErrDamaged }

// The bbolt v1.5.0 file format (internal/common).
const (
	boltMagic       = 0xED0CDAED
	boltVersion     = 2
	pageHeaderSize  = 16 // id uint64, flags uint16, count uint16, overflow uint32
	elementSize     = 16 // a branch element (pos, ksize uint32; pgid uint64) or a leaf element (flags, pos, ksize, vsize uint32)
	metaSize        = 64 // magic, version, pageSize, flags uint32; root, sequence, freelist, pgid, txid, checksum uint64
	metaSumOffset   = 56 // the checksum covers the bytes before it
	bucketHeaderLen = 16 // a nested bucket's value: root pgid, sequence uint64; the inline page follows when root is 0
	noFreelist      = ^uint64(0)

	flagBranch   = 0x01
	flagLeaf     = 0x02
	flagMeta     = 0x04
	flagFreelist = 0x10

	leafFlagBucket = 0x01

	// bbolt probes for the second meta page up to 16 MiB (getPageSizeFromSecondMeta).
	minPageSize = 1024
	maxPageSize = 1024 << 14
)

// bbolt stores its structures in the machine's byte order (it casts memory).
var ne = binary.NativeEndian

// boltMeta is one meta page's fields.
type boltMeta struct {
	magic, version, pageSize, flags uint32
	root, sequence                  uint64
	freelist, pgid, txid, checksum  uint64
	sum                             uint64 // computed over the stored bytes
}

func parseMeta(b []byte) (boltMeta, bool) {
	if len(b) < metaSize {
		return boltMeta{}, false
	}
	h := fnv.New64a()
	_, _ = h.Write(b[:metaSumOffset])
	return boltMeta{
		magic: ne.Uint32(b[0:]), version: ne.Uint32(b[4:]), pageSize: ne.Uint32(b[8:]), flags: ne.Uint32(b[12:]),
		root: ne.Uint64(b[16:]), sequence: ne.Uint64(b[24:]), freelist: ne.Uint64(b[32:]),
		pgid: ne.Uint64(b[40:]), txid: ne.Uint64(b[48:]), checksum: ne.Uint64(b[56:]),
		sum: h.Sum64(),
	}, true
}

// validate is bbolt's Meta.Validate.
func (m boltMeta) validate() error {
	switch {
	case m.magic != boltMagic:
		return errors.New("is not a bbolt meta page (wrong magic)")
	case m.version != boltVersion:
		return fmt.Errorf("has format version %d, bbolt reads version %d", m.version, boltVersion)
	case m.checksum != m.sum:
		return errors.New("fails its checksum")
	}
	return nil
}

// boltFile is a bbolt file read with ReadAt, and the meta bbolt would use.
type boltFile struct {
	path     string
	f        *os.File
	size     int64
	pageSize int
	meta     boltMeta
	metaPage uint64 // 0 or 1: the meta in use
	hwm      uint64 // the meta's high-water mark: pages [0, hwm) are in use or free
	pages    uint64 // pages that can be read: hwm, or fewer in a truncated file (salvage only)
}

func damaged(path, format string, args ...any) error {
	return &DamageError{Path: path, Detail: fmt.Sprintf(format, args...)}
}

// openBoltFile reads the meta pages as bbolt does and checks the meta it
// would use against the file. A DamageError says why the file is unusable.
// With truncated set (salvage), a file shorter than its pages is read as
// far as it goes.
func openBoltFile(path string, truncated bool) (*boltFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("outbox %s: %w", path, err)
	}
	bf := &boltFile{path: path, f: f}
	if err := bf.readMeta(truncated); err != nil {
		f.Close()
		return nil, err
	}
	return bf, nil
}

func (bf *boltFile) Close() error { return bf.f.Close() }

func (bf *boltFile) readMeta(truncated bool) error {
	fi, err := bf.f.Stat()
	if err != nil {
		return fmt.Errorf("outbox %s: %w", bf.path, err)
	}
	bf.size = fi.Size()
	if bf.size == 0 {
		return damaged(bf.path, "the file is empty (0 bytes): it holds no outbox")
	}
	// The page size, as bbolt's getPageSize finds it: from meta 0 if that is
	// valid, else from the first valid meta found at a power-of-two offset,
	// else the OS page size when a page can be read at all.
	var buf [0x1000]byte
	readMetaAt := func(off int64) (boltMeta, bool, bool) {
		n, err := bf.f.ReadAt(buf[:], off)
		canRead := n == len(buf) || (err == io.EOF && int64(n) == bf.size-off)
		if !canRead || n < pageHeaderSize+metaSize {
			return boltMeta{}, canRead, false
		}
		m, _ := parseMeta(buf[pageHeaderSize:n])
		return m, canRead, m.validate() == nil
	}
	pageSize := 0
	canRead := false
	if m, ok, valid := readMetaAt(0); valid {
		pageSize = int(m.pageSize)
	} else {
		canRead = ok && bf.size >= int64(len(buf))
		for i := 0; i <= 14; i++ {
			pos := int64(1024) << i
			if pos >= bf.size-1024 {
				break
			}
			m, ok, valid := readMetaAt(pos)
			canRead = canRead || ok
			if valid {
				pageSize = int(m.pageSize)
				break
			}
		}
		if pageSize == 0 && canRead {
			pageSize = os.Getpagesize()
		}
	}
	if pageSize == 0 {
		return damaged(bf.path, "neither meta page (page 0 and page 1) is a valid bbolt meta page (file of %d bytes)", bf.size)
	}
	if pageSize < minPageSize || pageSize > maxPageSize || pageSize&(pageSize-1) != 0 {
		return damaged(bf.path, "meta page gives a page size of %d bytes, not a power of two from %d to %d", pageSize, minPageSize, maxPageSize)
	}
	bf.pageSize = pageSize
	if bf.size < 2*int64(pageSize) {
		return damaged(bf.path, "the file is %d bytes, shorter than its two meta pages of %d bytes each (truncated)", bf.size, pageSize)
	}

	// Both meta pages at that page size; bbolt uses the valid one with the
	// higher txid (meta 0 on a tie), and fails only if neither is valid.
	var metas [2]boltMeta
	var errs [2]error
	for i := range metas {
		b := make([]byte, metaSize)
		if _, err := bf.f.ReadAt(b, int64(i*pageSize+pageHeaderSize)); err != nil {
			errs[i] = fmt.Errorf("cannot be read: %v", err)
			continue
		}
		metas[i], _ = parseMeta(b)
		errs[i] = metas[i].validate()
		if errs[i] == nil && int(metas[i].pageSize) != pageSize {
			errs[i] = fmt.Errorf("gives a page size of %d bytes, the file's is %d", metas[i].pageSize, pageSize)
		}
	}
	a, b := 0, 1
	if metas[1].txid > metas[0].txid {
		a, b = 1, 0
	}
	switch {
	case errs[a] == nil:
		bf.metaPage = uint64(a)
	case errs[b] == nil:
		bf.metaPage = uint64(b)
	default:
		return damaged(bf.path, "neither meta page is valid: page 0 %v; page 1 %v", errs[0], errs[1])
	}
	// A meta that fails validation is what a power cut during a commit
	// leaves: bbolt then uses the other one, the commit before, which is
	// whole. So one invalid meta is not damage, as it is not to bbolt.
	m := metas[bf.metaPage]
	bf.meta = m
	where := fmt.Sprintf("meta page %d (txid %d)", bf.metaPage, m.txid)
	switch {
	case m.pgid < 2:
		return damaged(bf.path, "%s: high-water mark %d is below the two meta pages", where, m.pgid)
	case m.pgid > uint64(bf.size)/uint64(pageSize) && !truncated:
		return damaged(bf.path, "%s: the file is %d bytes but its pages run to page %d, %d bytes (truncated)", where, bf.size, m.pgid-1, m.pgid*uint64(pageSize))
	case m.root < 2 || m.root >= m.pgid:
		return damaged(bf.path, "%s: root bucket page %d is outside pages 2 to %d", where, m.root, m.pgid-1)
	case m.freelist != noFreelist && (m.freelist < 2 || m.freelist >= m.pgid):
		return damaged(bf.path, "%s: freelist page %d is outside pages 2 to %d", where, m.freelist, m.pgid-1)
	}
	bf.hwm, bf.pages = m.pgid, min(m.pgid, uint64(bf.size)/uint64(pageSize))
	return nil
}

// page is one page (with its overflow) or an inline bucket's page.
type page struct {
	id       uint64
	flags    uint16
	count    int
	overflow uint32
	data     []byte // header included
	inline   bool
}

func pageType(flags uint16) string {
	switch flags {
	case flagBranch:
		return "branch"
	case flagLeaf:
		return "leaf"
	case flagMeta:
		return "meta"
	case flagFreelist:
		return "freelist"
	}
	return fmt.Sprintf("unknown type 0x%02x", flags)
}

func parseHeader(b []byte) (id uint64, flags uint16, count int, overflow uint32) {
	return ne.Uint64(b[0:]), ne.Uint16(b[8:]), int(ne.Uint16(b[10:])), ne.Uint32(b[12:])
}

// readPage reads page id and its overflow pages into buf (grown as
// needed), checking the header against where the page was reached from.
func (bf *boltFile) readPage(id uint64, buf []byte) (page, []byte, error) {
	if id < 2 || id >= bf.hwm {
		return page{}, buf, fmt.Errorf("is outside pages 2 to %d", bf.hwm-1)
	}
	if id >= bf.pages {
		return page{}, buf, fmt.Errorf("is past the end of the file, truncated to %d bytes", bf.size)
	}
	ps := bf.pageSize
	if cap(buf) < ps {
		buf = make([]byte, ps)
	}
	buf = buf[:ps]
	if _, err := bf.f.ReadAt(buf, int64(id)*int64(ps)); err != nil {
		return page{}, buf, fmt.Errorf("cannot be read: %v", err)
	}
	pid, flags, count, overflow := parseHeader(buf)
	if pid != id {
		return page{}, buf, fmt.Errorf("says it is page %d", pid)
	}
	if uint64(overflow) >= bf.pages-id {
		return page{}, buf, fmt.Errorf("has %d overflow pages, running past the last page %d", overflow, bf.pages-1)
	}
	if overflow > 0 {
		n := (int(overflow) + 1) * ps
		if cap(buf) < n {
			nb := make([]byte, n)
			copy(nb, buf)
			buf = nb
		}
		buf = buf[:n]
		if _, err := bf.f.ReadAt(buf[ps:], int64(id+1)*int64(ps)); err != nil {
			return page{}, buf, fmt.Errorf("overflow pages cannot be read: %v", err)
		}
	}
	return page{id: id, flags: flags, count: count, overflow: overflow, data: buf}, buf, nil
}

// element is one parsed element of a branch or leaf page.
type element struct {
	flags uint32 // leaf only
	key   []byte
	value []byte // leaf only
	child uint64 // branch only
}

// elements parses p's elements, checking that they lie within the page and
// are laid out as bbolt writes them: the element array, then each
// element's key and value in order, packed, and (for a real page) no more
// overflow pages than that needs. A flipped count, position or size breaks
// that layout, so it is found here even when it points inside the page.
func (p *page) elements(ps int, out []element) ([]element, error) {
	out = out[:0]
	if p.flags != flagBranch && p.flags != flagLeaf {
		return out, fmt.Errorf("is a %s page where a branch or leaf page belongs", pageType(p.flags))
	}
	if p.flags == flagBranch && p.count == 0 {
		return out, errors.New("is a branch page with no elements")
	}
	off := pageHeaderSize + p.count*elementSize // where the next element's data starts
	if off > len(p.data) {
		return out, fmt.Errorf("has %d elements, more than fit in its %d bytes", p.count, len(p.data))
	}
	for i := 0; i < p.count; i++ {
		e := p.data[pageHeaderSize+i*elementSize:]
		var el element
		var pos, ksize, vsize uint32
		if p.flags == flagLeaf {
			el.flags, pos, ksize, vsize = ne.Uint32(e[0:]), ne.Uint32(e[4:]), ne.Uint32(e[8:]), ne.Uint32(e[12:])
			if el.flags&^leafFlagBucket != 0 {
				return out, fmt.Errorf("element %d has unknown flags 0x%x", i, el.flags)
			}
		} else {
			pos, ksize, el.child = ne.Uint32(e[0:]), ne.Uint32(e[4:]), ne.Uint64(e[8:])
		}
		start := uint64(pageHeaderSize+i*elementSize) + uint64(pos)
		if start != uint64(off) {
			return out, fmt.Errorf("element %d's data is at byte %d, not at %d where the previous element's ends", i, start, off)
		}
		if ksize == 0 {
			return out, fmt.Errorf("element %d has an empty key", i)
		}
		end := uint64(off) + uint64(ksize) + uint64(vsize)
		if end > uint64(len(p.data)) {
			return out, fmt.Errorf("element %d (key %d bytes, value %d bytes) runs past the page's end at byte %d", i, ksize, vsize, len(p.data))
		}
		el.key = p.data[off : off+int(ksize)]
		if p.flags == flagLeaf {
			el.value = p.data[off+int(ksize) : end]
		}
		off = int(end)
		out = append(out, el)
	}
	if p.inline {
		if off != len(p.data) {
			return out, fmt.Errorf("holds %d bytes of elements in a value of %d", off, len(p.data))
		}
	} else if want := (off+ps-1)/ps - 1; int(p.overflow) != want {
		return out, fmt.Errorf("has %d overflow pages, its %d bytes of elements need %d", p.overflow, off, want)
	}
	return out, nil
}

// keyOrder mirrors tx_check.go's verifyKeyOrder: keys increase within a
// page, the first is at least the key its parent reached it by, and all
// are below the parent's next key.
func keyOrder(i int, key, prev, hi []byte) error {
	if prev != nil {
		if c := bytes.Compare(prev, key); c > 0 || (c == 0 && i > 0) {
			return fmt.Errorf("element %d's key is out of order", i)
		}
	}
	if hi != nil && bytes.Compare(key, hi) >= 0 {
		return fmt.Errorf("element %d's key is not below its parent's next key", i)
	}
	return nil
}

// walker walks the tree from the meta's root bucket. In strict mode (the
// check) the first fault stops it; otherwise (salvage) a damaged page is
// reported to onDamage and its subtree skipped.
type walker struct {
	bf     *boltFile
	strict bool
	seen   []uint64 // a bit per page: reached once already

	// onRecord gets every key/value of a bucket (not nested buckets);
	// key and value are only valid during the call.
	onRecord func(bucket []string, key, value []byte)
	// onBucket gets each nested bucket's sequence.
	onBucket func(bucket []string, sequence uint64)
	// onDamage gets what could not be read (salvage only).
	onDamage func(d DamagedPage)

	bufs  [][]byte // one page buffer per depth
	elems [][]element
}

// DamagedPage is part of the tree that could not be read.
type DamagedPage struct {
	Page   uint64 // 0 for an inline bucket's page or a nested bucket's value
	Bucket string // the bucket path, "a/b"
	From   string // the key range it covered, when known ("" = open)
	To     string
	Why    string
}

func (d DamagedPage) String() string {
	s := "page " + strconv.FormatUint(d.Page, 10)
	if d.Page == 0 {
		s = "inline page"
	}
	s += " of bucket " + bucketName(d.Bucket)
	if d.From != "" || d.To != "" {
		s += fmt.Sprintf(" (keys from %s to %s)", orOpen(d.From, "the first"), orOpen(d.To, "the last"))
	}
	return s + ": " + d.Why
}

func orOpen(s, open string) string {
	if s == "" {
		return open
	}
	return s
}

func bucketName(path string) string {
	if path == "" {
		return "the root bucket"
	}
	return strconv.Quote(path)
}

func newWalker(bf *boltFile, strict bool) *walker {
	return &walker{bf: bf, strict: strict, seen: make([]uint64, (bf.pages+63)/64)}
}

// mark records pages [id, id+n] as reached; false if one already was.
func (w *walker) mark(id uint64, overflow uint32) (uint64, bool) {
	for p := id; p <= id+uint64(overflow); p++ {
		if w.seen[p/64]&(1<<(p%64)) != 0 {
			return p, false
		}
	}
	for p := id; p <= id+uint64(overflow); p++ {
		w.seen[p/64] |= 1 << (p % 64)
	}
	return 0, true
}

func (w *walker) reached(p uint64) bool { return p < w.bf.pages && w.seen[p/64]&(1<<(p%64)) != 0 }

// fault reports damage: an error in strict mode, a skipped part otherwise.
func (w *walker) fault(id uint64, path []string, lo, hi []byte, format string, args ...any) error {
	d := DamagedPage{Page: id, Bucket: strings.Join(quoteNames(path), "/"), Why: fmt.Sprintf(format, args...)}
	if lo != nil {
		d.From = showKey(path, lo)
	}
	if hi != nil {
		d.To = showKey(path, hi)
	}
	if w.strict {
		return damaged(w.bf.path, "%s", d.String())
	}
	if w.onDamage != nil {
		w.onDamage(d)
	}
	return nil
}

// quoteNames makes bucket names from a damaged file printable.
func quoteNames(path []string) []string {
	out := make([]string, len(path))
	for i, n := range path {
		out[i] = printable(n)
	}
	return out
}

func printable(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

// showKey prints a key for a report: sequence numbers as numbers (events,
// queue), order numbers as text, anything else in hex.
func showKey(path []string, k []byte) string {
	if len(path) == 1 && (path[0] == string(bucketEvents) || path[0] == string(bucketQueue)) && len(k) == 8 {
		return strconv.FormatUint(binary.BigEndian.Uint64(k), 10)
	}
	for _, c := range k {
		if c < 0x20 || c > 0x7e {
			if len(k) > 32 {
				return fmt.Sprintf("0x%x...", k[:32])
			}
			return fmt.Sprintf("0x%x", k)
		}
	}
	return strconv.Quote(printable(string(k)))
}

// walk walks the whole tree from the meta's root bucket.
func (w *walker) walk() error {
	_, err := w.walkPage(nil, w.bf.meta.root, nil, nil, 0)
	return err
}

// walkPage walks page id of bucket path, whose keys must lie in [lo, hi).
// It returns the largest key under it (for the parent's order check).
func (w *walker) walkPage(path []string, id uint64, lo, hi []byte, depth int) ([]byte, error) {
	for len(w.bufs) <= depth {
		w.bufs = append(w.bufs, nil)
		w.elems = append(w.elems, nil)
	}
	p, buf, err := w.bf.readPage(id, w.bufs[depth])
	w.bufs[depth] = buf
	if err != nil {
		return nil, w.fault(id, path, lo, hi, "%v", err)
	}
	if dup, ok := w.mark(id, p.overflow); !ok {
		return nil, w.fault(id, path, lo, hi, "page %d is reached a second time (a page belongs to one place in the tree)", dup)
	}
	return w.walkElements(path, &p, lo, hi, depth)
}

func (w *walker) walkElements(path []string, p *page, lo, hi []byte, depth int) ([]byte, error) {
	for len(w.elems) <= depth {
		w.bufs = append(w.bufs, nil)
		w.elems = append(w.elems, nil)
	}
	els, err := p.elements(w.bf.pageSize, w.elems[depth])
	w.elems[depth] = els
	if err != nil {
		return nil, w.fault(p.id, path, lo, hi, "%v", err)
	}
	var maxKey []byte
	prev := lo
	if p.flags == flagBranch {
		for i, el := range els {
			if err := keyOrder(i, el.key, prev, hi); err != nil {
				if err := w.fault(p.id, path, lo, hi, "%v", err); err != nil {
					return nil, err
				}
				continue // salvage: the next element may still be sound
			}
			next := hi
			if i+1 < len(els) {
				next = els[i+1].key
			}
			m, err := w.walkPage(path, el.child, el.key, next, depth+1)
			if err != nil {
				return nil, err
			}
			if m == nil {
				m = el.key // an empty or skipped child: the parent's key bounds it
			}
			prev = append(maxKey[:0], m...)
			maxKey = prev
		}
		return maxKey, nil
	}
	for i, el := range els {
		if err := keyOrder(i, el.key, prev, hi); err != nil {
			if err := w.fault(p.id, path, lo, hi, "%v", err); err != nil {
				return nil, err
			}
			continue // salvage: skip this element, keep the rest
		}
		prev = el.key
		if el.flags&leafFlagBucket == 0 {
			if w.onRecord != nil {
				w.onRecord(path, el.key, el.value)
			}
			continue
		}
		if err := w.walkBucket(append(path[:len(path):len(path)], string(el.key)), el.value, p.inline, depth+1); err != nil {
			return nil, err
		}
	}
	if len(els) > 0 {
		maxKey = append([]byte(nil), prev...)
	}
	return maxKey, nil
}

// walkBucket walks a nested bucket from its value: {root, sequence}, and
// when root is 0 the bucket's only page, inline.
func (w *walker) walkBucket(path []string, value []byte, inInline bool, depth int) error {
	if inInline {
		// bbolt inlines only a leaf without nested buckets (node.go inlineable).
		return w.fault(0, path[:len(path)-1], nil, nil, "an inline bucket holds nested bucket %q", printable(path[len(path)-1]))
	}
	if len(value) < bucketHeaderLen {
		return w.fault(0, path, nil, nil, "the bucket's value is %d bytes, shorter than a bucket header", len(value))
	}
	root, seq := ne.Uint64(value[0:]), ne.Uint64(value[8:])
	if root != 0 {
		if len(value) != bucketHeaderLen {
			return w.fault(0, path, nil, nil, "the bucket's value is %d bytes, a bucket with root page %d has %d", len(value), root, bucketHeaderLen)
		}
		if w.onBucket != nil {
			w.onBucket(path, seq)
		}
		_, err := w.walkPage(path, root, nil, nil, depth)
		return err
	}
	in := value[bucketHeaderLen:]
	if len(in) < pageHeaderSize {
		return w.fault(0, path, nil, nil, "the inline bucket's value is %d bytes, too short for its page", len(value))
	}
	_, flags, count, overflow := parseHeader(in)
	if flags != flagLeaf || overflow != 0 {
		return w.fault(0, path, nil, nil, "the inline bucket's page is a %s page with %d overflow pages, not a leaf", pageType(flags), overflow)
	}
	if w.onBucket != nil {
		w.onBucket(path, seq)
	}
	p := page{flags: flags, count: count, data: in, inline: true}
	_, err := w.walkElements(path, &p, nil, nil, depth)
	return err
}

// checkFreelist checks the freelist page a meta names (bbolt reads it at
// open instead of rebuilding the list): its header, its ids within the
// file, none of them twice, none in the tree or the freelist itself. With
// NoFreelistSync, as the outbox runs, commits name none (bbolt v1.5.0
// writes 0xFFFFFFFFFFFFFFFF there), but a file made or last written
// otherwise (a new file's first meta pages, bbolt's own tools) names one.
func (w *walker) checkFreelist() error {
	id := w.bf.meta.freelist
	if id == noFreelist {
		return nil
	}
	fail := func(format string, args ...any) error {
		return damaged(w.bf.path, "freelist page %d: %s", id, fmt.Sprintf(format, args...))
	}
	p, _, err := w.bf.readPage(id, nil)
	if err != nil {
		return fail("%v", err)
	}
	if p.flags != flagFreelist {
		return fail("is a %s page", pageType(p.flags))
	}
	if dup, ok := w.mark(id, p.overflow); !ok {
		return fail("page %d is also in the tree", dup)
	}
	first, count := pageHeaderSize, uint64(p.count)
	if p.count == 0xFFFF { // the count is too large for the header: the first id holds it
		if len(p.data) < pageHeaderSize+8 {
			return fail("too short for its count")
		}
		count = ne.Uint64(p.data[pageHeaderSize:])
		first += 8
	}
	if count > uint64(len(p.data)-first)/8 {
		return fail("lists %d free pages, more than its %d bytes hold", count, len(p.data))
	}
	free := make(map[uint64]bool, count)
	for i := uint64(0); i < count; i++ {
		f := ne.Uint64(p.data[first+int(i)*8:])
		switch {
		case f < 2 || f >= w.bf.pages:
			return fail("lists page %d as free, outside pages 2 to %d", f, w.bf.pages-1)
		case free[f]:
			return fail("lists page %d as free twice", f)
		case w.reached(f):
			return fail("lists page %d as free, but it is in use", f)
		}
		free[f] = true
	}
	return nil
}

// CheckFile checks that the bbolt file at path is whole enough for bbolt
// to open it and read every bucket without a panic or a memory fault:
// the meta page bbolt will use, the file's length against it, every
// branch and leaf page reachable from the root bucket (ids, types,
// element bounds and layout, key order, each page reached once, nested
// and inline buckets) and the freelist page if one is named. It reads the
// file with ReadAt only and never panics. A damaged file gives an error
// wrapping ErrDamaged that names the page and what is wrong; a file that
// cannot be read at all gives that error instead.
func CheckFile(path string) error {
	bf, err := openBoltFile(path, false)
	if err != nil {
		return err
	}
	defer bf.Close()
	w := newWalker(bf, true)
	if err := w.walk(); err != nil {
		return err
	}
	return w.checkFreelist()
}
