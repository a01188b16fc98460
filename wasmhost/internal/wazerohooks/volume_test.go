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
)

func TestVolumeRoot(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.txt"), []byte("a"), 0o644))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "b"), 0o755))
	v := newVolumeFS(dir)

	f, errno := v.OpenFile(".", experimentalsys.O_RDONLY, 0)
	require.Zero(t, errno)
	root, ok := f.(*volumeRoot)
	require.True(t, ok, "the preopen gets the lazy root")
	isDir, errno := root.IsDir()
	assert.True(t, isDir)
	assert.Zero(t, errno)
	st, errno := root.Stat()
	require.Zero(t, errno)
	assert.True(t, st.Mode.IsDir())
	assert.False(t, root.opened, "answering the preopen opened nothing")

	names := func() []string {
		dirents, errno := root.Readdir(-1)
		require.Zero(t, errno)
		var out []string
		for _, d := range dirents {
			out = append(out, d.Name)
		}
		sort.Strings(out)
		return out
	}
	assert.Equal(t, []string{"a.txt", "b"}, names())
	assert.True(t, root.opened)
	_, errno = root.Seek(0, io.SeekStart) // DirentCache's rewind
	require.Zero(t, errno)
	assert.Equal(t, []string{"a.txt", "b"}, names())
	st2, errno := root.Stat()
	require.Zero(t, errno)
	assert.Equal(t, st.Ino, st2.Ino, "stat of the open directory agrees")

	assert.Equal(t, experimentalsys.EROFS, root.Utimens(0, 0))
	_, errno = root.Write([]byte("x"))
	assert.Equal(t, experimentalsys.EBADF, errno)
	_, errno = root.Read(make([]byte, 1))
	assert.Equal(t, experimentalsys.EISDIR, errno)
	assert.Zero(t, root.Close())
	assert.Zero(t, root.Close(), "Close is idempotent")

	// Every other path is the read-only DirFS's.
	_, errno = v.OpenFile("new.txt", experimentalsys.O_CREAT|experimentalsys.O_WRONLY, 0o644)
	assert.NotZero(t, errno, "read-only")
	g, errno := v.OpenFile("a.txt", experimentalsys.O_RDONLY, 0)
	require.Zero(t, errno)
	_, isRoot := g.(*volumeRoot)
	assert.False(t, isRoot)
	assert.Zero(t, g.Close())
}
