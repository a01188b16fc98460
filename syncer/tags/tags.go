// Package tags decodes Traefik's tag (label) syntax into the dynamic
// configuration types of syncer/dynamic.
//
// A tag key without its prefix, such as
// "http.routers.web.tls.domains[0].main", is a path through the
// configuration: each segment names a struct field (matched
// case-insensitively against the field's yaml name, as Traefik matches
// "loadbalancer" to "loadBalancer"), a map key (kept as written: router,
// service and middleware names, header names) or, with "[n]", an element of
// a list. The value is parsed by the type of the field it lands in: strings
// as is, booleans, integers, durations ("42s", or bare seconds), lists of
// strings from comma-separated values, and "true" on a group of options to
// switch it on with its defaults ("…middlewares.gzip.compress=true").
//
// Set is pure and safe for concurrent use on distinct configurations.
package tags

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/whiskers-dev/whiskers/syncer/dynamic"
)

// MaxIndex is the largest list index a tag may address ("domains[99]").
const MaxIndex = 99

// Split splits a tag "key=value" at the first "=" and trims spaces around
// both halves. ok is false when the tag has no "=".
func Split(tag string) (key, value string, ok bool) {
	k, v, ok := strings.Cut(tag, "=")
	return strings.TrimSpace(k), strings.TrimSpace(v), ok
}

// Object names the configuration object a tag key configures, such as the
// router "web" of "http.routers.web.rule".
type Object struct {
	Section string // "http", "tcp", "udp" or "tls"
	Kind    string // yaml name of the collection: "routers", "services", "middlewares", "serversTransports", "stores", "options"
	Name    string // the object's name, as written in the tag
}

// String returns "section.kind.name".
func (o Object) String() string { return o.Section + "." + o.Kind + "." + o.Name }

// ObjectOf returns the object that key (without prefix) configures. ok is
// false when key does not name a collection of a known section and an object
// in it; such a key cannot be attributed to one object.
func ObjectOf(key string) (o Object, ok bool) {
	secName, rest, _ := strings.Cut(key, ".")
	kindName, rest, _ := strings.Cut(rest, ".")
	name, _, _ := strings.Cut(rest, ".")
	if name == "" {
		return Object{}, false
	}
	kinds, ok := collections[strings.ToLower(secName)]
	if !ok {
		return Object{}, false
	}
	k, ok := kinds[strings.ToLower(kindName)]
	if !ok {
		return Object{}, false
	}
	return Object{Section: k.Section, Kind: k.Kind, Name: name}, true
}

// collections maps lower-case section and collection names (the maps of
// named objects in each section) to their spelling in Traefik's files.
var collections = func() map[string]map[string]Object {
	out := map[string]map[string]Object{}
	root := reflect.TypeFor[dynamic.Configuration]()
	for sf, f := range fieldsOf(root) {
		sec := root.Field(f.index).Type.Elem()
		m := map[string]Object{}
		for kf, k := range fieldsOf(sec) {
			if !k.alias && sec.Field(k.index).Type.Kind() == reflect.Map {
				m[kf] = Object{Section: f.name, Kind: k.name}
			}
		}
		out[sf] = m
	}
	return out
}()

// Set sets the field of cfg that key (a tag key without prefix, e.g.
// "http.routers.web.rule") names to value, creating the objects on the way.
// It returns an error, and may leave the named object partly set, when the
// key names no field or the value does not parse as the field's type.
func Set(cfg *dynamic.Configuration, key, value string) error {
	if cfg == nil {
		return errors.New("nil configuration")
	}
	if key == "" {
		return errors.New("empty key")
	}
	if strings.Contains(key, "..") || key[0] == '.' || key[len(key)-1] == '.' {
		return fmt.Errorf("key %q has an empty segment", key)
	}
	root := reflect.ValueOf(cfg).Elem()
	if p, name := planFor(key); p != nil {
		return p.run(root, key, name, value)
	}
	return set(root, key, value)
}

var (
	durationType = reflect.TypeFor[dynamic.Duration]()
	stringsType  = reflect.TypeFor[[]string]()
)

// errGroup is the error of a value other than "true" on a group of options.
var errGroup = errors.New("is a group of options, not a value (want a sub-option or true)")

// set assigns value to the field that path (segments joined by ".", "" for
// v itself) names inside v (settable).
func set(v reflect.Value, path string, value string) error {
	switch v.Kind() {
	case reflect.Pointer:
		if path == "" && v.Type().Elem().Kind() == reflect.Struct {
			return enable(v, value)
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		return set(v.Elem(), path, value)
	case reflect.Struct:
		return setField(v, path, value)
	case reflect.Map:
		return setEntry(v, path, value)
	case reflect.Interface:
		// Free-form plugin options: a string, or nested options.
		if path == "" {
			v.Set(reflect.ValueOf(value))
			return nil
		}
		m, ok := v.Interface().(map[string]any)
		if !ok {
			m = map[string]any{}
			v.Set(reflect.ValueOf(m))
		}
		return set(reflect.ValueOf(m), path, value)
	}
	if path != "" {
		seg, _, _ := strings.Cut(path, ".")
		return fmt.Errorf("unknown option %q", seg)
	}
	return setLeaf(v, value)
}

// setField sets the option that path names inside the struct v: a field
// by its lower-case name, with an index for a list ("servers[0]"), or the
// first element of a list through its singular alias ("server").
func setField(v reflect.Value, path string, value string) error {
	if path == "" {
		// A group of options that is not a pointer always exists.
		return group(value)
	}
	seg, rest, _ := strings.Cut(path, ".")
	name, idx, hasIdx, err := splitIndex(seg)
	if err != nil {
		return err
	}
	f, ok := fieldOf(v.Type(), strings.ToLower(name))
	if !ok {
		return fmt.Errorf("unknown option %q", seg)
	}
	fv := v.Field(f.index)
	if f.alias {
		if hasIdx {
			return fmt.Errorf("option %q takes no index", name)
		}
		// "server" addresses the first element of "servers".
		idx, hasIdx = 0, true
	}
	if !hasIdx {
		return wrap(seg, set(fv, rest, value))
	}
	if fv.Kind() != reflect.Slice {
		return fmt.Errorf("option %q is not a list", name)
	}
	if fv.Len() <= idx {
		grown := reflect.MakeSlice(fv.Type(), idx+1, idx+1)
		reflect.Copy(grown, fv)
		fv.Set(grown)
	}
	return wrap(seg, set(fv.Index(idx), rest, value))
}

// setEntry sets the option that path names inside the map v of named
// entries: objects (routers, services, …) are set in place, other values
// through a copy.
func setEntry(v reflect.Value, path string, value string) error {
	if path == "" {
		return errors.New("needs a name (a map of named entries)")
	}
	seg, rest, _ := strings.Cut(path, ".")
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	k := reflect.ValueOf(seg)
	if kt := v.Type().Key(); kt != k.Type() {
		k = k.Convert(kt)
	}
	et := v.Type().Elem()
	if et.Kind() == reflect.Pointer && et.Elem().Kind() == reflect.Struct {
		old := v.MapIndex(k)
		if old.IsValid() && !old.IsNil() {
			if rest == "" {
				return wrap(seg, enable(reflect.New(et).Elem(), value))
			}
			return wrap(seg, set(old.Elem(), rest, value))
		}
		if rest != "" {
			p := reflect.New(et.Elem())
			if err := set(p.Elem(), rest, value); err != nil {
				return wrap(seg, err)
			}
			v.SetMapIndex(k, p)
			return nil
		}
	}
	entry := reflect.New(et).Elem()
	if old := v.MapIndex(k); old.IsValid() {
		entry.Set(old)
	}
	if err := set(entry, rest, value); err != nil {
		return wrap(seg, err)
	}
	v.SetMapIndex(k, entry)
	return nil
}

// enable handles "true"/"false" on a group of options held by pointer v.
func enable(v reflect.Value, value string) error {
	b, err := strconv.ParseBool(value)
	if err != nil {
		return fmt.Errorf("is a group of options, not a value (want a sub-option or true): %w", err)
	}
	if b && v.IsNil() {
		v.Set(reflect.New(v.Type().Elem()))
	}
	return nil
}

// setLeaf parses value into the scalar or list v.
func setLeaf(v reflect.Value, value string) error {
	if v.Type() == durationType {
		var d dynamic.Duration
		if err := d.Set(value); err != nil {
			return err
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(value)
	case reflect.Bool:
		b, err := strconv.ParseBool(value)
		if err != nil {
			return fmt.Errorf("want a boolean, got %q", value)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(value, 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("want an integer, got %q", value)
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(value, 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("want a non-negative integer, got %q", value)
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(value, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("want a number, got %q", value)
		}
		v.SetFloat(f)
	case reflect.Slice:
		if v.Type() == stringsType {
			parts := strings.Split(value, ",")
			out := parts[:0]
			for _, p := range parts {
				if p = strings.TrimSpace(p); p != "" {
					out = append(out, p)
				}
			}
			if v.CanAddr() {
				*v.Addr().Interface().(*[]string) = out // no boxing of the slice
			} else {
				v.Set(reflect.ValueOf(out))
			}
			return nil
		}
		parts := strings.Split(value, ",")
		s := reflect.MakeSlice(v.Type(), 0, len(parts))
		for _, p := range parts {
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			e := reflect.New(v.Type().Elem()).Elem()
			if e.Kind() == reflect.Struct || e.Kind() == reflect.Pointer || e.Kind() == reflect.Map || e.Kind() == reflect.Slice {
				return errors.New("is a list of groups of options: address an element with [n]")
			}
			if err := setLeaf(e, p); err != nil {
				return err
			}
			s = reflect.Append(s, e)
		}
		v.Set(s)
	default:
		return fmt.Errorf("unsupported field type %s", v.Type())
	}
	return nil
}

// splitIndex splits "domains[1]" into "domains", 1.
func splitIndex(seg string) (name string, idx int, ok bool, err error) {
	open := strings.IndexByte(seg, '[')
	if open < 0 {
		return seg, 0, false, nil
	}
	if !strings.HasSuffix(seg, "]") || open == 0 {
		return "", 0, false, fmt.Errorf("malformed index in %q", seg)
	}
	n, err := strconv.Atoi(seg[open+1 : len(seg)-1])
	if err != nil || n < 0 || n > MaxIndex {
		return "", 0, false, fmt.Errorf("index in %q must be 0..%d", seg, MaxIndex)
	}
	return seg[:open], n, true, nil
}

// wrap prefixes err with the path segment it happened under, so that the
// message reads "routers: web: tls: unknown option …".
func wrap(seg string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", seg, err)
}

// field is one struct field reachable from tags.
type field struct {
	index int
	name  string // yaml (or label) name as Traefik spells it
	alias bool   // reached through a label:"…" alias of a list: addresses element 0
}

// fieldTable holds the fields of every struct type reachable from
// dynamic.Configuration, filled once at init and only read afterwards.
var fieldTable = map[reflect.Type]map[string]field{}

func init() {
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return
		}
		if _, ok := fieldTable[t]; ok {
			return
		}
		fieldTable[t] = fieldsOf(t)
		for i := range t.NumField() {
			walk(t.Field(i).Type)
		}
	}
	walk(reflect.TypeFor[dynamic.Configuration]())
}

// fieldOf finds the field of struct type t whose yaml or label name is
// lower (already lower-case).
func fieldOf(t reflect.Type, lower string) (field, bool) {
	m, ok := fieldTable[t]
	if !ok {
		m = fieldsOf(t)
	}
	f, ok := m[lower]
	return f, ok
}

// fieldsOf indexes the fields of struct type t by lower-case yaml and
// label names.
func fieldsOf(t reflect.Type) map[string]field {
	m := map[string]field{}
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		yname, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		label := sf.Tag.Get("label")
		if yname != "" && yname != "-" {
			m[strings.ToLower(yname)] = field{index: i, name: yname}
			if label != "" && label != "-" {
				m[strings.ToLower(label)] = field{index: i, name: label, alias: sf.Type.Kind() == reflect.Slice}
			}
		} else if label != "" && label != "-" {
			m[strings.ToLower(label)] = field{index: i, name: label}
		}
	}
	return m
}

// Delete removes the object o from cfg, if it is there.
func Delete(cfg *dynamic.Configuration, o Object) {
	if cfg == nil {
		return
	}
	root := reflect.ValueOf(cfg).Elem()
	sf, ok := fieldOf(root.Type(), strings.ToLower(o.Section))
	if !ok || sf.alias {
		return
	}
	sec := root.Field(sf.index)
	if sec.IsNil() {
		return
	}
	kf, ok := fieldOf(sec.Elem().Type(), strings.ToLower(o.Kind))
	if !ok || kf.alias {
		return
	}
	m := sec.Elem().Field(kf.index)
	if m.Kind() != reflect.Map || m.IsNil() {
		return
	}
	m.SetMapIndex(reflect.ValueOf(o.Name).Convert(m.Type().Key()), reflect.Value{})
}

// Enabled applies Traefik's opt-in rule to one instance's tags: the last
// "<prefix>.enable" tag decides (the prefix and key in any case, the value
// as strconv.ParseBool reads it: true, True, 1, …); without one, def (the
// providers' exposedByDefault). bad is the first enable tag whose value is
// not a boolean, which Traefik rejects: the instance is then not enabled.
// Sources and the builder share this rule, so that a service Traefik would
// route is read and built alike.
func Enabled(ts []string, prefix string, def bool) (enabled bool, bad string) {
	enabled = def
	for _, tag := range ts {
		k, v, _ := Split(tag)
		if len(k) != len(prefix)+len(".enable") || !strings.EqualFold(k, prefix+".enable") {
			continue
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, tag
		}
		enabled = b
	}
	return enabled, ""
}
