package wazerohooks

import (
	"io/fs"
	"strings"

	"github.com/tetratelabs/wazero"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/experimental/sysfs"
	"github.com/tetratelabs/wazero/sys"
)

// A volume is what FSConfig.WithReadOnlyDirMount builds (sysfs.ReadFS over
// sysfs.DirFS, so path resolution and the read-only rules are wazero's),
// with one difference: wazero opens every mount's root directory when an
// instance starts (its WASI preopen), which for a fresh instance per
// request was an openat, fstat, fcntl and close per request per volume.
// volumeRoot answers the preopen's questions (is it a directory, fdstat)
// with one stat per instance, and opens the directory only if the guest
// lists it. And on Linux a file opened read-only is a volumeFile: raw
// open/pread/fstat/close system calls instead of an os.File (see
// volume_linux.go).

// MountVolume adds a read-only mount of hostDir at guestPath to fsc.
func MountVolume(fsc wazero.FSConfig, hostDir, guestPath string) wazero.FSConfig {
	return fsc.(sysfs.FSConfig).WithSysFSMount(newVolumeFS(hostDir), guestPath)
}

// volumeFS is a read-only directory file system whose root opens lazily.
type volumeFS struct {
	experimentalsys.FS        // sysfs.ReadFS over sysfs.DirFS(dir)
	dir                string // as configured
	prefix             string // dir with one trailing slash, as DirFS joins paths
}

// newVolumeFS returns the volume of the host directory dir.
func newVolumeFS(dir string) *volumeFS {
	prefix := dir
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return &volumeFS{FS: &sysfs.ReadFS{FS: sysfs.DirFS(dir)}, dir: dir, prefix: prefix}
}

// OpenFile implements experimentalsys.FS.
func (v *volumeFS) OpenFile(path string, flag experimentalsys.Oflag, perm fs.FileMode) (experimentalsys.File, experimentalsys.Errno) {
	if path == "." && flag == experimentalsys.O_RDONLY {
		return newVolumeRoot(v.FS, v.dir), 0
	}
	if path != "" && path != "." && path != "/" && flag&^experimentalsys.O_NOFOLLOW == experimentalsys.O_RDONLY {
		if f, errno, ok := v.openFast(path, flag); ok {
			return f, errno
		}
	}
	return v.FS.OpenFile(path, flag, perm)
}

// volumeRoot is the root directory of a volume.
type volumeRoot struct {
	// File supplies Seek: experimentalsys.UnimplementedFile until the
	// directory is opened, the directory after. (Declaring Seek here would
	// trip go vet's stdmethods check: the signature is wazero's, not
	// io.Seeker's.) wazero seeks a directory only to rewind it after
	// Readdir, which opens it.
	experimentalsys.File

	fs      experimentalsys.FS
	dir     string
	opened  bool
	stat    sys.Stat_t // the first Stat's answer, for the instance's life
	statted bool
}

// newVolumeRoot returns the root of the volume fs of the host directory
// dir, not yet opened.
func newVolumeRoot(fs experimentalsys.FS, dir string) *volumeRoot {
	return &volumeRoot{File: experimentalsys.UnimplementedFile{}, fs: fs, dir: dir}
}

// file returns the root directory, opening it on first use.
func (d *volumeRoot) file() (experimentalsys.File, experimentalsys.Errno) {
	if !d.opened {
		f, errno := d.fs.OpenFile(".", experimentalsys.O_RDONLY, 0)
		if errno != 0 {
			return nil, errno
		}
		d.File, d.opened = f, true
	}
	return d.File, 0
}

// Stat implements experimentalsys.File with one stat of the directory
// per instance (WASI libc asks for it before every path_open), unless the
// directory is open.
func (d *volumeRoot) Stat() (sys.Stat_t, experimentalsys.Errno) {
	if d.opened {
		return d.File.Stat()
	}
	if !d.statted {
		st, errno := statPath(d.dir)
		if errno != 0 {
			return sys.Stat_t{}, errno
		}
		d.stat, d.statted = st, true
	}
	return d.stat, 0
}

// Dev implements experimentalsys.File.
func (d *volumeRoot) Dev() (uint64, experimentalsys.Errno) {
	st, errno := d.Stat()
	return st.Dev, errno
}

// Ino implements experimentalsys.File.
func (d *volumeRoot) Ino() (sys.Inode, experimentalsys.Errno) {
	st, errno := d.Stat()
	return st.Ino, errno
}

// IsDir implements experimentalsys.File.
func (d *volumeRoot) IsDir() (bool, experimentalsys.Errno) { return true, 0 }

// IsAppend implements experimentalsys.File.
func (d *volumeRoot) IsAppend() bool { return false }

// SetAppend implements experimentalsys.File.
func (d *volumeRoot) SetAppend(bool) experimentalsys.Errno { return experimentalsys.EISDIR }

// Read implements experimentalsys.File.
func (d *volumeRoot) Read([]byte) (int, experimentalsys.Errno) { return 0, experimentalsys.EISDIR }

// Pread implements experimentalsys.File.
func (d *volumeRoot) Pread([]byte, int64) (int, experimentalsys.Errno) {
	return 0, experimentalsys.EISDIR
}

// Write implements experimentalsys.File.
func (d *volumeRoot) Write([]byte) (int, experimentalsys.Errno) { return 0, experimentalsys.EBADF }

// Pwrite implements experimentalsys.File.
func (d *volumeRoot) Pwrite([]byte, int64) (int, experimentalsys.Errno) {
	return 0, experimentalsys.EBADF
}

// Truncate implements experimentalsys.File.
func (d *volumeRoot) Truncate(int64) experimentalsys.Errno { return experimentalsys.EISDIR }

// Readdir implements experimentalsys.File.
func (d *volumeRoot) Readdir(n int) ([]experimentalsys.Dirent, experimentalsys.Errno) {
	f, errno := d.file()
	if errno != 0 {
		return nil, errno
	}
	return f.Readdir(n)
}

// Sync implements experimentalsys.File; a read-only directory has nothing
// to flush.
func (d *volumeRoot) Sync() experimentalsys.Errno { return 0 }

// Datasync implements experimentalsys.File.
func (d *volumeRoot) Datasync() experimentalsys.Errno { return 0 }

// Utimens implements experimentalsys.File: the volume is read-only.
func (d *volumeRoot) Utimens(int64, int64) experimentalsys.Errno { return experimentalsys.EROFS }

// Close implements experimentalsys.File.
func (d *volumeRoot) Close() experimentalsys.Errno {
	if !d.opened {
		return 0
	}
	f := d.File
	d.File, d.opened = experimentalsys.UnimplementedFile{}, false
	return f.Close()
}
