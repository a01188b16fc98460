// Package output is where the syncer's rendered configuration leaves the
// process: an atomically replaced file for Traefik's file provider, an HTTP
// server for Traefik's HTTP provider (/config with ETag, /healthz,
// Prometheus /metrics), and a Recorder for tests and the demo.
//
// All three are an Output: bytes enter through Publish, in the output's
// Format, and an output does nothing when they are the ones it already
// published.
package output

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/whiskers-dev/whiskers/syncer/render"
)

// File is a configuration file replaced atomically. It is safe for
// concurrent use.
type File struct {
	path   string
	perm   fs.FileMode
	format render.Format

	mu      sync.Mutex
	last    []byte
	checked bool
}

// NewFile returns a File for path (created with mode 0o644) that holds
// configuration in format (YAML when empty); it does not touch the file
// system.
func NewFile(path string, format render.Format) (*File, error) {
	if path == "" {
		return nil, errors.New("output: empty file path")
	}
	if format == "" {
		format = render.YAML
	}
	if _, err := render.ParseFormat(string(format)); err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	return &File{path: path, perm: 0o644, format: format}, nil
}

// Path returns the file's path.
func (f *File) Path() string { return f.path }

// Format returns the format of the file's configuration.
func (f *File) Format() render.Format { return f.format }

// Publish is Write.
func (f *File) Publish(b []byte) (bool, error) { return f.Write(b) }

// Exists reports whether the file is there (written by an earlier run).
func (f *File) Exists() bool {
	_, err := os.Stat(f.path)
	return err == nil
}

// Write replaces the file's contents with b unless they are already b; it
// reports whether it wrote. The replacement is atomic: readers see the old
// or the new file, never a partial one.
func (f *File) Write(b []byte) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.checked {
		// After a restart the file on disk may already be current.
		if old, err := os.ReadFile(f.path); err == nil {
			f.last = old
		}
		f.checked = true
	}
	if f.last != nil && bytes.Equal(f.last, b) {
		return false, nil
	}
	if err := WriteAtomic(f.path, b, f.perm); err != nil {
		return false, err
	}
	f.last = bytes.Clone(b)
	return true, nil
}

// TempDir is the subdirectory of an output file's directory that holds its
// temporary files.
const TempDir = ".whiskers-tmp"

// WriteAtomic writes data to path through a temporary file: write, rename
// over path, then fsync the file and the directory before returning.
//
// Readers see the new content at the rename, whole: they read the page
// cache and never need the fsyncs, which on a busy disk take tens of
// milliseconds (measured: 17–29 ms at the median on the benchmark cluster,
// more than the build). So the fsyncs come after the rename, out of a
// change's way to Traefik, and only make the file durable. A crash between
// the rename and them leaves the old file or, on a file system that does
// not flush a file renamed over another (ext4 does), an empty one: Traefik
// then routes nothing from it until the syncer, started again, has read
// its catalogs and written the file anew.
//
// The temporary file is in the subdirectory TempDir (on the same file
// system), so that a watcher of path's directory sees one event per write,
// the rename: Traefik's file provider in directory mode reloads on every
// event in the directory, and an early reload of the old content would
// hold the new one back for its providersThrottleDuration. Its name does
// not end in .yaml, .yml or .toml, so Traefik never reads it. Without
// permission to create TempDir, the temporary file goes beside path.
func WriteAtomic(path string, data []byte, perm fs.FileMode) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmpDir := filepath.Join(dir, TempDir)
	if err := os.Mkdir(tmpDir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		tmpDir = dir
	}
	tmp, err := os.CreateTemp(tmpDir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("output: creating temporary file for %s: %w", path, err)
	}
	renamed := false
	defer func() {
		if err != nil && !renamed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("output: writing %s: %w", tmp.Name(), err)
	}
	if err = tmp.Chmod(perm); err != nil {
		return fmt.Errorf("output: setting mode of %s: %w", tmp.Name(), err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("output: renaming into %s: %w", path, err)
	}
	renamed = true // path is the file now: no temporary file to remove
	err = tmp.Sync()
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("output: syncing %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("output: opening directory %s: %w", dir, err)
	}
	defer d.Close()
	if err = d.Sync(); err != nil {
		return fmt.Errorf("output: syncing directory %s: %w", dir, err)
	}
	return nil
}
