package main

import "os"

// isTerminal says whether v, a command's stdin or stderr, is a terminal: a
// character device other than the null device. Close enough without a
// terminal library: what matters is not to wait on a person who does not
// know input is expected, and to print progress only for one watching.
func isTerminal(v any) bool {
	if lw, ok := v.(*lockedWriter); ok {
		v = lw.w
	}
	f, ok := v.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	null, err := os.Stat(os.DevNull)
	return err != nil || !os.SameFile(st, null)
}
