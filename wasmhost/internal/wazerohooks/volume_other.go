//go:build !linux

package wazerohooks

import (
	"os"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/sys"
)

// openFast reports false: outside Linux every file is wazero's.
func (v *volumeFS) openFast(string, experimentalsys.Oflag) (experimentalsys.File, experimentalsys.Errno, bool) {
	return nil, 0, false
}

// statPath stats path, following symlinks.
func statPath(path string) (sys.Stat_t, experimentalsys.Errno) {
	info, err := os.Stat(path)
	if err != nil {
		return sys.Stat_t{}, experimentalsys.UnwrapOSError(err)
	}
	return sys.NewStat_t(info), 0
}
