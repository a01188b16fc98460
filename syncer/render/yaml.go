package render

import (
	"bytes"
	"encoding"
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/whiskers-dev/whiskers/syncer/dynamic"
)

// The YAML writer below is a small, fast, deterministic emitter for the
// dynamic configuration types: block style, two-space indent, keys in byte
// order, fields with omitempty semantics. A general YAML encoder (yaml.v3)
// takes over a second and nearly a gigabyte for 10 000 services; this one
// takes a few tens of milliseconds. Tests check that yaml.v3 reads back
// exactly what went in.

var textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()

// yfield is a struct field the writer emits.
type yfield struct {
	index int
	name  string
}

// tinfo is what the writer needs to know about a type.
type tinfo struct {
	fields []yfield // struct fields written
	text   bool     // implements encoding.TextMarshaler
}

// typeTable holds every type reachable from dynamic.Configuration, filled at
// init and only read afterwards; other types are looked up in typeCache.
var (
	typeTable = map[reflect.Type]*tinfo{}
	typeCache sync.Map
)

func init() {
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		if _, ok := typeTable[t]; ok {
			return
		}
		typeTable[t] = newTinfo(t)
		switch t.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Map:
			walk(t.Elem())
		case reflect.Struct:
			for i := range t.NumField() {
				walk(t.Field(i).Type)
			}
		}
	}
	walk(reflect.TypeFor[*dynamic.Configuration]())
}

func info(t reflect.Type) *tinfo {
	if ti, ok := typeTable[t]; ok {
		return ti
	}
	if ti, ok := typeCache.Load(t); ok {
		return ti.(*tinfo)
	}
	ti := newTinfo(t)
	typeCache.Store(t, ti)
	return ti
}

func newTinfo(t reflect.Type) *tinfo {
	ti := &tinfo{text: t.Implements(textMarshaler)}
	if t.Kind() != reflect.Struct {
		return ti
	}
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		ti.fields = append(ti.fields, yfield{index: i, name: name})
	}
	return ti
}

type yamlWriter struct {
	buf *bytes.Buffer // where the writer writes now

	// The document before buf's content, in order: what writeChunks took
	// over from buf and its chunks, kept as written rather than copied
	// into a buffer that grows (join copies everything once).
	done    [][]byte
	doneLen int             // total length of done
	owned   []*bytes.Buffer // buffers of chunkPool that done or buf use

	// The type last looked up, and its tinfo: the writer asks about the
	// same type several times in a row (a field's type, then its value's).
	lastType reflect.Type
	lastInfo *tinfo
}

// info is info(t), remembering the last answer.
func (w *yamlWriter) info(t reflect.Type) *tinfo {
	if t != w.lastType {
		w.lastType, w.lastInfo = t, info(t)
	}
	return w.lastInfo
}

// written is the number of bytes written so far.
func (w *yamlWriter) written() int { return w.doneLen + w.buf.Len() }

// join returns the whole document. w may not be used afterwards.
func (w *yamlWriter) join() []byte {
	if len(w.done) == 0 {
		return w.buf.Bytes()
	}
	out := make([]byte, 0, w.written())
	for _, b := range w.done {
		out = append(out, b...)
	}
	return append(out, w.buf.Bytes()...)
}

// release returns the writer's buffers to chunkPool.
func (w *yamlWriter) release() {
	for _, b := range w.owned {
		chunkPool.Put(b)
	}
	w.owned, w.done = nil, nil
}

// empty reports whether v is omitted under omitempty.
func empty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		return v.IsNil()
	case reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool:
		return !v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int() == 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return v.Uint() == 0
	case reflect.Float32, reflect.Float64:
		return v.Float() == 0
	case reflect.Struct:
		return v.IsZero()
	}
	return false
}

func deref(v reflect.Value) reflect.Value {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return v
		}
		v = v.Elem()
	}
	return v
}

// isBlock reports whether v is written as a nested mapping or sequence (as
// opposed to a scalar or an empty "{}"/"[]").
func (w *yamlWriter) isBlock(v reflect.Value) bool {
	v = deref(v)
	if (v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface) && v.IsNil() {
		return false
	}
	ti := w.info(v.Type())
	if ti.text {
		return false
	}
	switch v.Kind() {
	case reflect.Struct:
		for _, f := range ti.fields {
			if !empty(v.Field(f.index)) {
				return true
			}
		}
		return false
	case reflect.Map, reflect.Slice:
		return v.Len() > 0
	}
	return false
}

const spaces = "                                                                "

func (w *yamlWriter) indent(n int) {
	for n > len(spaces) {
		w.buf.WriteString(spaces)
		n -= len(spaces)
	}
	w.buf.WriteString(spaces[:n])
}

// mapping writes the entries of struct or map v at indentation ind; when
// first is true the first line's indentation has already been written.
func (w *yamlWriter) mapping(v reflect.Value, ind int, first bool) error {
	v = deref(v)
	line := func() {
		if first {
			first = false
			return
		}
		w.indent(ind)
	}
	switch v.Kind() {
	case reflect.Struct:
		for _, f := range w.info(v.Type()).fields {
			fv := v.Field(f.index)
			if empty(fv) {
				continue
			}
			line()
			if err := w.entry(f.name, fv, ind); err != nil {
				return err
			}
		}
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return fmt.Errorf("map key type %s", v.Type().Key())
		}
		type kv struct {
			k string
			v reflect.Value
		}
		entries := make([]kv, 0, v.Len())
		for it := v.MapRange(); it.Next(); {
			entries = append(entries, kv{it.Key().String(), it.Value()})
		}
		if len(entries) >= parallelEntries && runtime.GOMAXPROCS(0) > 1 {
			sortParallel(entries, func(a, b kv) int { return strings.Compare(a.k, b.k) })
		} else {
			slices.SortFunc(entries, func(a, b kv) int { return strings.Compare(a.k, b.k) })
		}
		if len(entries) >= parallelEntries && runtime.GOMAXPROCS(0) > 1 {
			// Large maps (routers, services of a whole cluster) are written in
			// chunks by several goroutines, then joined in order.
			line()
			return w.writeChunks(len(entries), func(cw *yamlWriter, i int) error {
				if i > 0 {
					cw.indent(ind)
				}
				return cw.entry(entries[i].k, entries[i].v, ind)
			})
		}
		for _, e := range entries {
			line()
			if err := w.entry(e.k, e.v, ind); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("cannot write %s as a mapping", v.Type())
	}
	return nil
}

// entry writes "key: value" (value inline or as a nested block).
func (w *yamlWriter) entry(key string, v reflect.Value, ind int) error {
	start := w.buf.Len()
	w.scalarString(key)
	if k := w.buf.Bytes()[start:]; len(k) > maxSimpleKey && utf8.RuneCount(k) > maxSimpleKey {
		written := string(k)
		w.buf.Truncate(start)
		return w.explicitEntry(written, v, ind)
	}
	w.buf.WriteByte(':')
	if dv := deref(v); dv.Kind() == reflect.Struct && !w.info(dv.Type()).text {
		// Write the fields; if there were none, write "{}" instead.
		w.buf.WriteByte('\n')
		start, startBuf := w.written(), w.buf.Len()
		w.indent(ind + 2)
		if err := w.mapping(dv, ind+2, true); err != nil {
			return err
		}
		if w.written() == start+ind+2 { // nothing written: buf is the same
			w.buf.Truncate(startBuf - 1)
			w.buf.WriteString(" {}\n")
		}
		return nil
	}
	if !w.isBlock(v) {
		w.buf.WriteByte(' ')
		if err := w.inline(v); err != nil {
			return err
		}
		w.buf.WriteByte('\n')
		return nil
	}
	w.buf.WriteByte('\n')
	return w.block(v, ind+2)
}

// maxSimpleKey is the longest key written as "key: value". YAML limits
// simple keys to 1024 characters; longer ones are written "? key" / ": value".
const maxSimpleKey = 1000

// explicitEntry writes an entry with an explicit key: "? key", then
// ": value" with the value inline or as a block indented under it.
func (w *yamlWriter) explicitEntry(key string, v reflect.Value, ind int) error {
	w.buf.WriteString("? ")
	w.buf.WriteString(key)
	w.buf.WriteByte('\n')
	w.indent(ind)
	w.buf.WriteString(": ")
	if !w.isBlock(v) {
		if err := w.inline(v); err != nil {
			return err
		}
		w.buf.WriteByte('\n')
		return nil
	}
	if dv := deref(v); dv.Kind() == reflect.Slice {
		return w.sequence(dv, ind+2, true)
	}
	return w.mapping(v, ind+2, true)
}

// block writes a non-empty struct, map or slice at indentation ind.
func (w *yamlWriter) block(v reflect.Value, ind int) error {
	v = deref(v)
	if v.Kind() != reflect.Slice {
		w.indent(ind)
		return w.mapping(v, ind, true)
	}
	return w.sequence(v, ind, false)
}

// sequence writes the elements of slice v at indentation ind; when first
// is true the first line's indentation has already been written.
func (w *yamlWriter) sequence(v reflect.Value, ind int, first bool) error {
	for i := range v.Len() {
		e := v.Index(i)
		if i > 0 || !first {
			w.indent(ind)
		}
		w.buf.WriteString("- ")
		if de := deref(e); de.Kind() == reflect.Struct && !w.info(de.Type()).text {
			start := w.written()
			if err := w.mapping(de, ind+2, true); err != nil {
				return err
			}
			if w.written() == start {
				w.buf.WriteString("{}\n")
			}
			continue
		}
		if w.isBlock(e) {
			if deref(e).Kind() == reflect.Slice {
				w.buf.WriteByte('\n')
				if err := w.block(e, ind+2); err != nil {
					return err
				}
				continue
			}
			if err := w.mapping(e, ind+2, true); err != nil {
				return err
			}
			continue
		}
		if err := w.inline(e); err != nil {
			return err
		}
		w.buf.WriteByte('\n')
	}
	return nil
}

// parallelEntries is the size from which a map is written by several
// goroutines.
const parallelEntries = 2048

// chunkPool holds the buffers of writeChunks between renders.
var chunkPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func pooledBuffer() *bytes.Buffer {
	b := chunkPool.Get().(*bytes.Buffer)
	b.Reset()
	return b
}

// writeChunks calls write(cw, i) for i in 0…n-1, in GOMAXPROCS contiguous
// chunks each with its own writer, and adds the chunks to w's document in
// order, after what w wrote so far; w goes on in a new buffer.
func (w *yamlWriter) writeChunks(n int, write func(cw *yamlWriter, i int) error) error {
	k := min(runtime.GOMAXPROCS(0), n)
	cws := make([]*yamlWriter, k)
	errs := make([]error, k)
	var wg sync.WaitGroup
	for c := range k {
		lo, hi := c*n/k, (c+1)*n/k
		cw := &yamlWriter{buf: pooledBuffer()}
		cw.owned = append(cw.owned, cw.buf)
		cws[c] = cw
		wg.Go(func() {
			cw.buf.Grow((hi - lo) * 128)
			for i := lo; i < hi; i++ {
				if err := write(cw, i); err != nil {
					errs[c] = err
					return
				}
			}
		})
	}
	wg.Wait()
	w.done = append(w.done, w.buf.Bytes())
	w.doneLen += w.buf.Len()
	for _, cw := range cws {
		w.done = append(w.done, cw.done...)
		w.done = append(w.done, cw.buf.Bytes())
		w.doneLen += cw.written()
		w.owned = append(w.owned, cw.owned...)
	}
	w.buf = pooledBuffer()
	w.owned = append(w.owned, w.buf)
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// sortParallel sorts s by cmp like slices.SortFunc, with up to GOMAXPROCS
// goroutines: parts are sorted at the same time, then merged pairwise.
// Elements equal under cmp may end up in another order than
// slices.SortFunc's (map keys never are equal).
func sortParallel[T any](s []T, cmp func(a, b T) int) {
	k := min(runtime.GOMAXPROCS(0), len(s)/512)
	if k < 2 {
		slices.SortFunc(s, cmp)
		return
	}
	bounds := make([]int, k+1) // part c is s[bounds[c]:bounds[c+1]]
	for c := range bounds {
		bounds[c] = c * len(s) / k
	}
	var wg sync.WaitGroup
	for c := range k {
		wg.Go(func() { slices.SortFunc(s[bounds[c]:bounds[c+1]], cmp) })
	}
	wg.Wait()
	src, dst := s, make([]T, len(s))
	for len(bounds) > 2 {
		next := []int{}
		for i := 0; i < len(bounds)-1; i += 2 {
			lo := bounds[i]
			next = append(next, lo)
			if i+2 >= len(bounds) { // an odd part out: carried over
				copy(dst[lo:], src[lo:bounds[i+1]])
				continue
			}
			mid, hi := bounds[i+1], bounds[i+2]
			wg.Go(func() { mergeSorted(dst[lo:hi], src[lo:mid], src[mid:hi], cmp) })
		}
		wg.Wait()
		bounds = append(next, len(s))
		src, dst = dst, src
	}
	if &src[0] != &s[0] {
		copy(s, src)
	}
}

// mergeSorted merges sorted a and b into dst (len(a)+len(b) long).
func mergeSorted[T any](dst, a, b []T, cmp func(a, b T) int) {
	i, j, n := 0, 0, 0
	for i < len(a) && j < len(b) {
		if cmp(b[j], a[i]) < 0 {
			dst[n] = b[j]
			j++
		} else {
			dst[n] = a[i]
			i++
		}
		n++
	}
	n += copy(dst[n:], a[i:])
	copy(dst[n:], b[j:])
}

// inline writes a scalar, or "{}" / "[]" for an empty collection.
func (w *yamlWriter) inline(v reflect.Value) error {
	if v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer {
		if v.IsNil() {
			w.buf.WriteString("null")
			return nil
		}
	}
	if w.info(v.Type()).text {
		b, err := v.Interface().(encoding.TextMarshaler).MarshalText()
		if err != nil {
			return err
		}
		w.scalarString(string(b))
		return nil
	}
	if k := v.Kind(); k == reflect.Pointer || k == reflect.Interface {
		if v = deref(v); w.info(v.Type()).text {
			return w.inline(v)
		}
	}
	switch v.Kind() {
	case reflect.String:
		w.scalarString(v.String())
	case reflect.Bool:
		w.buf.WriteString(strconv.FormatBool(v.Bool()))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		w.buf.WriteString(strconv.FormatInt(v.Int(), 10))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		w.buf.WriteString(strconv.FormatUint(v.Uint(), 10))
	case reflect.Float32, reflect.Float64:
		w.buf.WriteString(strconv.FormatFloat(v.Float(), 'g', -1, v.Type().Bits()))
	case reflect.Struct, reflect.Map:
		w.buf.WriteString("{}")
	case reflect.Slice:
		w.buf.WriteString("[]")
	default:
		return fmt.Errorf("cannot write %s", v.Type())
	}
	return nil
}

// scalarString writes s plain when YAML reads it back as the same string,
// double-quoted otherwise.
func (w *yamlWriter) scalarString(s string) {
	if !utf8.ValidString(s) {
		s = validUTF8(s)
	}
	if plainSafe(s) {
		w.buf.WriteString(s)
		return
	}
	w.buf.WriteString(strconv.Quote(s))
}

// plainSafe is conservative: anything that might read back as another
// string or another type is quoted.
func plainSafe(s string) bool {
	if s == "" || plainBadFirst[s[0]] {
		return false
	}
	if s[0] >= '0' && s[0] <= '9' && !digitLedSafe(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= utf8.RuneSelf:
			return plainSafeUnicode(s)
		case c < 0x20 || c == 0x7f:
			return false
		case c == ':' && (i == len(s)-1 || s[i+1] == ' '):
			return false
		case c == '#' && i > 0 && s[i-1] == ' ':
			return false
		}
	}
	if c := s[len(s)-1]; c == ' ' {
		return false
	}
	if len(s) <= 8 {
		switch strings.ToLower(s) {
		case "true", "false", "yes", "no", "on", "off", "y", "n", "null", "nan", "inf", "infinity":
			return false
		}
	}
	return true
}

// plainBadFirst are the bytes a plain scalar of ours may not start with.
var plainBadFirst = func() (t [256]bool) {
	for _, c := range []byte("-?:,[]{}#&*!|>'\"%@`<=~ \t.+") {
		t[c] = true
	}
	return t
}()

// plainSafeUnicode is plainSafe's slow path for non-ASCII strings.
func plainSafeUnicode(s string) bool {
	last, _ := utf8.DecodeLastRuneInString(s)
	if last == ' ' || last == ':' || last == '\t' {
		return false
	}
	if strings.Contains(s, ": ") || strings.Contains(s, " #") {
		return false
	}
	for _, r := range s {
		if r == '\t' || !unicode.IsPrint(r) || r == '\uFEFF' {
			return false
		}
	}
	return true
}

// numberish are the bytes of YAML numbers: digits of any base, signs,
// points, exponents, base prefixes and separators.
const numberish = "0123456789abcdefABCDEFxXoObB_.+-"

// digitLedSafe reports whether s, which starts with a digit, reads back as
// a string: not a number (any base, with or without '_'), not a date, and
// not a YAML 1.1 base-60 number (a ':' is allowed after a '.', as in
// "10.0.0.1:80").
func digitLedSafe(s string) bool {
	if strings.Trim(s, numberish) == "" || strings.ContainsRune(s, '_') {
		return false // could be a number in some base, or a float
	}
	if len(s) >= 8 && s[4] == '-' && strings.Trim(s[:4], "0123456789") == "" {
		return false // 2001-12-14…
	}
	if c := strings.IndexByte(s, ':'); c >= 0 {
		d := strings.IndexByte(s, '.')
		if d < 0 || d > c {
			return false
		}
	}
	return true
}

// validUTF8 replaces each invalid byte of s with U+FFFD, as encoding/json does.
func validUTF8(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}
