package output

import (
	"bytes"
	"sync"

	"github.com/whiskers-dev/whiskers/syncer/render"
)

// Output is where rendered configuration goes: a File for Traefik's file
// provider, the Server of its HTTP provider, or a Recorder. Each decides
// for itself whether the bytes changed.
type Output interface {
	// Format is the format of the bytes Publish takes.
	Format() render.Format
	// Publish makes b the published configuration. It reports whether b
	// differed from what was published before; only then does it write.
	Publish(b []byte) (changed bool, err error)
}

var (
	_ Output = (*File)(nil)
	_ Output = (*Server)(nil)
	_ Output = (*Recorder)(nil)
)

// Recorder is an Output that keeps the last configuration and calls a
// function with every change: for tests, benchmarks and the demo's
// narration. It is safe for concurrent use.
type Recorder struct {
	format   render.Format
	onChange func([]byte)

	mu   sync.Mutex
	last []byte
}

// NewRecorder returns a Recorder of configurations in format (YAML when
// empty) that calls onChange (if not nil) with each new one; onChange must
// not block for long: it runs on the runner's goroutine.
func NewRecorder(format render.Format, onChange func([]byte)) *Recorder {
	if format == "" {
		format = render.YAML
	}
	return &Recorder{format: format, onChange: onChange}
}

// Format returns the Recorder's format.
func (r *Recorder) Format() render.Format { return r.format }

// Publish records b and calls onChange when b differs from the last one.
func (r *Recorder) Publish(b []byte) (bool, error) {
	r.mu.Lock()
	if r.last != nil && bytes.Equal(r.last, b) {
		r.mu.Unlock()
		return false, nil
	}
	r.last = bytes.Clone(b)
	r.mu.Unlock()
	if r.onChange != nil {
		r.onChange(b)
	}
	return true, nil
}

// Last returns the last configuration published (nil before the first).
func (r *Recorder) Last() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.last)
}
