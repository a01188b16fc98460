package tags

import (
	"maps"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/whiskers-dev/whiskers/syncer/dynamic"
)

// A plan is the reflection path of every tag key of one shape: the key
// with the object's name (its third segment, as in
// "http.routers.<name>.rule") abstracted out. It holds field indexes, so
// that Set does not match field names for every tag, and it reads the
// object's name from the key it runs for. Only keys whose path crosses
// struct fields, lists and pointers, with one map (that of the named
// objects) at the third segment, have a plan; other keys (header names,
// plugin options, errors in the key) go through set, which reads them
// segment by segment. A plan does what set does for such a key, with the
// same results and errors.
type plan struct {
	steps []step
}

// op is what one step of a plan does.
type op uint8

const (
	opPtr    op = iota // follow a pointer, creating the value if nil
	opField            // enter a struct field (and an element of it, if index ≥ 0)
	opObject           // enter the named object in a map of pointers to structs
	opEnable           // the path ends at a pointer to a group of options
	opGroup            // the path ends at a group of options held by value
	opLeaf             // the path ends at a scalar or list: parse the value
)

type step struct {
	op    op
	field int          // opField: index of the struct field
	index int          // opField: list element, or -1
	elem  reflect.Type // opPtr: type pointed to; opObject: the object's struct type
	objs  objectMap    // opObject: typed access to the map, if it is a known one
}

// objectMap enters the objects of one type of map of named objects through
// typed code: reflection would box each name to look it up.
type objectMap interface {
	// enter follows rest (not empty) inside the object name of m (an
	// addressable map), as object does.
	enter(m reflect.Value, name string, rest []step, value string) error
}

// objectsOf is the objectMap of map[string]*T.
type objectsOf[T any] struct{}

func (objectsOf[T]) enter(m reflect.Value, name string, rest []step, value string) error {
	mp := m.Addr().Interface().(*map[string]*T)
	if *mp == nil {
		*mp = map[string]*T{}
	}
	if old := (*mp)[name]; old != nil {
		return exec(reflect.ValueOf(old).Elem(), rest, name, value)
	}
	p := new(T)
	if err := exec(reflect.ValueOf(p).Elem(), rest, name, value); err != nil {
		return err
	}
	(*mp)[name] = p
	return nil
}

// objectMaps has the objectMap of each map of named objects in
// dynamic.Configuration (TestObjectMapsComplete checks that none is
// missing; a missing one would only be slower).
var objectMaps = map[reflect.Type]objectMap{}

func addObjects[T any]() {
	objectMaps[reflect.TypeFor[map[string]*T]()] = objectsOf[T]{}
}

func init() {
	addObjects[dynamic.Router]()
	addObjects[dynamic.Service]()
	addObjects[dynamic.Middleware]()
	addObjects[dynamic.ServersTransport]()
	addObjects[dynamic.TCPRouter]()
	addObjects[dynamic.TCPService]()
	addObjects[dynamic.TCPMiddleware]()
	addObjects[dynamic.TCPServersTransport]()
	addObjects[dynamic.UDPRouter]()
	addObjects[dynamic.UDPService]()
	addObjects[dynamic.TLSOptions]()
	addObjects[dynamic.Store]()
}

// objectSeg is the segment of a key that names the object.
const objectSeg = 2

// shape is a key without its object's name: what comes before and after.
type shape struct{ head, tail string }

// maxPlans bounds the plan cache. The shapes of valid keys are finite (the
// options of Traefik's configuration, spelt in any case) but not small, and
// list indexes have many spellings ("[1]", "[01]", …): past the bound, keys
// of new shapes are compiled for each call.
const maxPlans = 4096

// plans is the cache of plans by shape. Readers load the map without
// locking; writers, serialized by plansMu, replace it with a larger copy.
var (
	plansMu sync.Mutex
	plans   atomic.Pointer[map[shape]*plan]
)

// planFor returns the plan of key and the object's name in it, or nil when
// key has no plan (see plan).
func planFor(key string) (p *plan, name string) {
	i := strings.IndexByte(key, '.')
	if i < 0 {
		return nil, ""
	}
	j := strings.IndexByte(key[i+1:], '.')
	if j < 0 {
		return nil, ""
	}
	start, end := i+1+j+1, len(key)
	if k := strings.IndexByte(key[start:], '.'); k >= 0 {
		end = start + k
	}
	sh, name := shape{key[:start], key[end:]}, key[start:end]
	m := plans.Load()
	if m != nil {
		if p, ok := (*m)[sh]; ok {
			return p, name
		}
	}
	if p = compile(key); p == nil {
		return nil, ""
	}
	plansMu.Lock()
	defer plansMu.Unlock()
	if m = plans.Load(); m == nil || len(*m) < maxPlans {
		grown := make(map[shape]*plan, 1+lenOf(m))
		if m != nil {
			maps.Copy(grown, *m)
		}
		// Clone: the shape must not keep the caller's key alive.
		grown[shape{strings.Clone(sh.head), strings.Clone(sh.tail)}] = p
		plans.Store(&grown)
	}
	return p, name
}

func lenOf(m *map[shape]*plan) int {
	if m == nil {
		return 0
	}
	return len(*m)
}

// compile resolves key through the types of dynamic.Configuration as set
// would, or returns nil when key has no plan (see plan).
func compile(key string) *plan {
	segs := strings.Split(key, ".")
	var steps []step
	t := configurationType
	for i := 0; ; {
		switch t.Kind() {
		case reflect.Pointer:
			if i == len(segs) && t.Elem().Kind() == reflect.Struct {
				return &plan{steps: append(steps, step{op: opEnable})}
			}
			t = t.Elem()
			steps = append(steps, step{op: opPtr, elem: t})

		case reflect.Struct:
			if i == len(segs) {
				return &plan{steps: append(steps, step{op: opGroup})}
			}
			if i == objectSeg {
				return nil // the shape hides this segment: it must be a map key
			}
			name, idx, hasIdx, err := splitIndex(segs[i])
			if err != nil {
				return nil
			}
			f, ok := fieldOf(t, strings.ToLower(name))
			if !ok {
				return nil
			}
			ft := t.Field(f.index).Type
			if f.alias {
				if hasIdx {
					return nil
				}
				idx, hasIdx = 0, true
			}
			s := step{op: opField, field: f.index, index: -1}
			if hasIdx {
				if ft.Kind() != reflect.Slice {
					return nil
				}
				s.index = idx
				ft = ft.Elem()
			}
			steps = append(steps, s)
			t = ft
			i++

		case reflect.Map:
			et := t.Elem()
			if i != objectSeg || i == len(segs) || t.Key() != stringType ||
				et.Kind() != reflect.Pointer || et.Elem().Kind() != reflect.Struct {
				return nil
			}
			steps = append(steps, step{op: opObject, elem: et.Elem(), objs: objectMaps[t]})
			t = et.Elem()
			i++
			if i == len(segs) {
				return &plan{steps: steps}
			}

		case reflect.Interface:
			return nil

		default:
			if i != len(segs) {
				return nil
			}
			return &plan{steps: append(steps, step{op: opLeaf})}
		}
	}
}

var (
	configurationType = reflect.TypeFor[dynamic.Configuration]()
	stringType        = reflect.TypeFor[string]()
)

// run sets value at the end of p's path from v (the configuration), for
// key (of p's shape) naming object name.
func (p *plan) run(v reflect.Value, key, name, value string) error {
	err := exec(v, p.steps, name, value)
	if err == nil {
		return nil
	}
	// Every segment of a key with a plan is entered before anything can
	// fail: the error reads "seg0: seg1: …: err", as set's does.
	segs := strings.Split(key, ".")
	for i := len(segs) - 1; i >= 0; i-- {
		err = wrap(segs[i], err)
	}
	return err
}

// exec follows steps from v; errors are not wrapped.
func exec(v reflect.Value, steps []step, name, value string) error {
	for i, s := range steps {
		switch s.op {
		case opPtr:
			if v.IsNil() {
				v.Set(reflect.New(s.elem))
			}
			v = v.Elem()
		case opField:
			v = v.Field(s.field)
			if s.index >= 0 {
				if v.Len() <= s.index {
					grown := reflect.MakeSlice(v.Type(), s.index+1, s.index+1)
					reflect.Copy(grown, v)
					v.Set(grown)
				}
				v = v.Index(s.index)
			}
		case opObject:
			if rest := steps[i+1:]; s.objs != nil && len(rest) > 0 && v.CanAddr() {
				return s.objs.enter(v, name, rest, value)
			}
			return object(v, s.elem, steps[i+1:], name, value)
		case opEnable:
			return enable(v, value)
		case opGroup:
			return group(value)
		case opLeaf:
			return setLeaf(v, value)
		}
	}
	return nil
}

// object sets value in the object name of map v (of pointers to structs of
// type elem), following rest inside it, as set does for a map.
func object(v reflect.Value, elem reflect.Type, rest []step, name, value string) error {
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	k := reflect.ValueOf(name)
	old := v.MapIndex(k)
	if old.IsValid() && !old.IsNil() {
		if len(rest) == 0 {
			return enable(reflect.New(v.Type().Elem()).Elem(), value)
		}
		return exec(old.Elem(), rest, name, value)
	}
	if len(rest) != 0 {
		p := reflect.New(elem)
		if err := exec(p.Elem(), rest, name, value); err != nil {
			return err
		}
		v.SetMapIndex(k, p)
		return nil
	}
	tmp := reflect.New(v.Type().Elem()).Elem()
	if old.IsValid() {
		tmp.Set(old)
	}
	if err := enable(tmp, value); err != nil {
		return err
	}
	v.SetMapIndex(k, tmp)
	return nil
}

// group handles the value of a group of options held by value, which
// always exists: only "true" is accepted.
func group(value string) error {
	if b, err := strconv.ParseBool(value); err == nil && b {
		return nil
	}
	return errGroup
}
