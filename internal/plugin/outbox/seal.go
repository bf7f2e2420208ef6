package outbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// KeyLen is the outbox key's length: AES-256.
const KeyLen = 32

// sealVersion is the first byte of every sealed value; a new sealing scheme
// gets a new number and the old one stays readable.
const sealVersion byte = 1

// ErrWrongKey means the outbox key does not open this outbox's records.
var ErrWrongKey = errors.New("outbox: the outbox key does not open this outbox (is outbox_key_file the key this outbox was made with?)")

// KeyFileError is a problem with the outbox's key file: Path names it, for
// an error that must say which file to fix. Its text never holds the key.
type KeyFileError struct {
	Path string
	Err  error
}

func (e *KeyFileError) Error() string { return "outbox key " + e.Path + ": " + e.Err.Error() }
func (e *KeyFileError) Unwrap() error { return e.Err }

// loadOrCreateKey reads the hex key in path. When the file is absent and
// create is set, a new random key is written there, readable by its owner
// only. create is false when an outbox with records already exists: a new
// key could never open them, so a missing key is an error, not a fresh start.
func loadOrCreateKey(path string, create bool, dirSync func(string) error) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && create {
		key, created, cerr := createKey(path, dirSync)
		if cerr != nil || created {
			return key, cerr
		}
		// Another process (a plugin started beside this one) made it first:
		// its key, whole, is the one.
		data, err = os.ReadFile(path)
	}
	if errors.Is(err, os.ErrNotExist) {
		return nil, &KeyFileError{Path: path, Err: errors.New("is missing, but the outbox already holds records sealed with a key: restore the key file")}
	}
	if err != nil {
		return nil, &KeyFileError{Path: path, Err: err}
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(key) != KeyLen {
		// Never print the file's contents: they are the key.
		return nil, &KeyFileError{Path: path, Err: fmt.Errorf("want %d bytes as %d hex digits", KeyLen, 2*KeyLen)}
	}
	return key, nil
}

// createKey writes a new random key at path, whole or not at all: into a
// file of its own first, synced, then linked to path, which fails when
// path exists (created false: another made it, and it is whole too). Two
// plugins starting on one key file at once so never read half a key.
func createKey(path string, dirSync func(string) error) (key []byte, created bool, err error) {
	key = make([]byte, KeyLen)
	_, _ = rand.Read(key)
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".new-*")
	if err != nil {
		return nil, false, &KeyFileError{Path: path, Err: err}
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, werr := f.WriteString(hex.EncodeToString(key) + "\n")
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr, os.Chmod(tmp, 0o600)); err != nil {
		return nil, false, &KeyFileError{Path: path, Err: err}
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, false, nil
		}
		return nil, false, &KeyFileError{Path: path, Err: err}
	}
	// The key must outlive a power cut as the records do: a key file
	// whose creation is undone leaves records no key opens.
	if err := dirSync(filepath.Dir(path)); err != nil {
		_ = os.Remove(path)
		return nil, false, &KeyFileError{Path: path, Err: err}
	}
	return key, true, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// seal encrypts plain, bound to its place (bucket and key) so a sealed
// value moved under another key does not open.
func seal(aead cipher.AEAD, place, plain []byte) []byte {
	out := make([]byte, 1+aead.NonceSize(), 1+aead.NonceSize()+len(plain)+aead.Overhead())
	out[0] = sealVersion
	_, _ = rand.Read(out[1:]) // never fails: the runtime aborts first
	return aead.Seal(out, out[1:1+aead.NonceSize()], plain, place)
}

var errUnsealable = errors.New("does not open with the outbox key (damaged, or sealed with another key)")

func unseal(aead cipher.AEAD, place, sealed []byte) ([]byte, error) {
	n := aead.NonceSize()
	if len(sealed) < 1+n+aead.Overhead() {
		return nil, fmt.Errorf("sealed value of %d bytes is too short", len(sealed))
	}
	if sealed[0] != sealVersion {
		return nil, fmt.Errorf("unknown sealing version %d", sealed[0])
	}
	plain, err := aead.Open(nil, sealed[1:1+n], sealed[1+n:], place)
	if err != nil {
		return nil, errUnsealable
	}
	return plain, nil
}
