//go:build !linux

package wasmhost

import experimentalsys "github.com/tetratelabs/wazero/experimental/sys"

// openFast reports false: outside Linux every file is wazero's.
func (v *volumeFS) openFast(string, experimentalsys.Oflag) (experimentalsys.File, experimentalsys.Errno, bool) {
	return nil, 0, false
}
