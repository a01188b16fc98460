package wazerohooks

import (
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/experimental/sysfs"
)

// TestVolumeFileMatchesWazero opens the same paths through a volume and
// through wazero's read-only DirFS, and expects the same answers.
func TestVolumeFileMatchesWazero(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.txt"), []byte("hello, volume"), 0o644))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "sub"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sub", "b.txt"), nil, 0o600))
	require.NoError(t, os.Symlink("a.txt", filepath.Join(dir, "link")))
	v := newVolumeFS(dir)
	w := &sysfs.ReadFS{FS: sysfs.DirFS(dir)}

	open := func(fsys experimentalsys.FS, path string, flag experimentalsys.Oflag) (experimentalsys.File, experimentalsys.Errno) {
		f, errno := fsys.OpenFile(path, flag, 0)
		if f != nil {
			t.Cleanup(func() { _ = f.Close() })
		}
		return f, errno
	}
	for _, tc := range []struct {
		name string
		path string
		flag experimentalsys.Oflag
	}{
		{"file", "a.txt", experimentalsys.O_RDONLY},
		{"file nofollow", "a.txt", experimentalsys.O_RDONLY | experimentalsys.O_NOFOLLOW},
		{"nested file", "sub/b.txt", experimentalsys.O_RDONLY},
		{"directory", "sub", experimentalsys.O_RDONLY},
		{"symlink", "link", experimentalsys.O_RDONLY},
		{"symlink nofollow", "link", experimentalsys.O_RDONLY | experimentalsys.O_NOFOLLOW},
		{"missing", "nope.txt", experimentalsys.O_RDONLY},
		{"file as directory", "a.txt/x", experimentalsys.O_RDONLY},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, gotErrno := open(v, tc.path, tc.flag)
			want, wantErrno := open(w, tc.path, tc.flag)
			require.Equal(t, wantErrno, gotErrno)
			if wantErrno != 0 {
				return
			}
			_, fast := got.(*volumeFile)
			assert.True(t, fast, "a read-only open is a volumeFile")

			gotSt, errno := got.Stat()
			require.Zero(t, errno)
			wantSt, errno := want.Stat()
			require.Zero(t, errno)
			assert.Equal(t, wantSt, gotSt)
			for _, f := range []experimentalsys.File{got, want} {
				isDir, errno := f.IsDir()
				require.Zero(t, errno)
				assert.Equal(t, wantSt.Mode.IsDir(), isDir)
				ino, errno := f.Ino()
				require.Zero(t, errno)
				assert.Equal(t, wantSt.Ino, ino)
			}
			assert.Equal(t, want.IsAppend(), got.IsAppend())

			type read struct {
				n     int
				errno experimentalsys.Errno
				data  string
			}
			pread := func(f experimentalsys.File, off int64) read {
				buf := make([]byte, 5)
				n, errno := f.Pread(buf, off)
				return read{n, errno, string(buf[:n])}
			}
			readAll := func(f experimentalsys.File) read {
				buf := make([]byte, 64)
				n, errno := f.Read(buf)
				return read{n, errno, string(buf[:n])}
			}
			for _, off := range []int64{0, 7, 13, 100} {
				assert.Equal(t, pread(want, off), pread(got, off), "pread at %d", off)
			}
			assert.Equal(t, readAll(want), readAll(got), "read")
			for _, seek := range []struct {
				off    int64
				whence int
			}{{0, io.SeekStart}, {3, io.SeekStart}, {-2, io.SeekEnd}, {1, io.SeekCurrent}, {0, 7}} {
				wantOff, wantErrno := want.Seek(seek.off, seek.whence)
				gotOff, gotErrno := got.Seek(seek.off, seek.whence)
				assert.Equal(t, wantErrno, gotErrno, "seek %+v", seek)
				if wantErrno == 0 && !wantSt.Mode.IsDir() {
					assert.Equal(t, wantOff, gotOff, "seek %+v", seek)
					assert.Equal(t, readAll(want), readAll(got), "read after seek %+v", seek)
				}
			}
			if wantSt.Mode.IsDir() {
				names := func(f experimentalsys.File) []string {
					_, errno := f.Seek(0, io.SeekStart)
					require.Zero(t, errno)
					dirents, errno := f.Readdir(-1)
					require.Zero(t, errno)
					var out []string
					for _, d := range dirents {
						out = append(out, d.Name)
					}
					sort.Strings(out)
					return out
				}
				assert.Equal(t, []string{"b.txt"}, names(got))
				assert.Equal(t, names(want), names(got), "listed again after a rewind")
			} else {
				_, errno := got.Readdir(-1)
				assert.Equal(t, experimentalsys.ENOTDIR, errno)
			}

			_, wantErrno = want.Write([]byte("x"))
			_, gotErrno = got.Write([]byte("x"))
			assert.Equal(t, wantErrno, gotErrno, "write")
			_, wantErrno = want.Pwrite([]byte("x"), 0)
			_, gotErrno = got.Pwrite([]byte("x"), 0)
			assert.Equal(t, wantErrno, gotErrno, "pwrite")
			assert.Equal(t, want.Truncate(0), got.Truncate(0), "truncate")
			assert.Equal(t, want.Sync(), got.Sync(), "sync")
			assert.Equal(t, want.Datasync(), got.Datasync(), "datasync")
			assert.Equal(t, want.Utimens(0, 0), got.Utimens(0, 0), "utimens")

			assert.Zero(t, got.Close())
			assert.Zero(t, got.Close(), "Close is idempotent")
			_, errno = got.Stat()
			assert.Equal(t, experimentalsys.EBADF, errno, "stat after close")
		})
	}

	// Opens that are not plainly read-only stay wazero's.
	_, errno := v.OpenFile("a.txt", experimentalsys.O_RDWR, 0)
	assert.Equal(t, experimentalsys.ENOSYS, errno, "read-only volume")
	f, errno := open(v, "sub", experimentalsys.O_RDONLY|experimentalsys.O_DIRECTORY)
	require.Zero(t, errno)
	_, fast := f.(*volumeFile)
	assert.False(t, fast)
}
