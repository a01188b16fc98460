package nomad

import (
	"fmt"
	"io/fs"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/nomad/api"
)

// TestJobSchema checks every attribute and block name of the job files
// against Nomad's own job types (github.com/hashicorp/nomad/api, whose
// `hcl:"…"` tags are the job specification's names), so that a typo such as
// `read_onyl` or a block in the wrong place fails here rather than at
// `nomad job run`. Map-typed blocks (config, env, meta) are free-form and not
// looked into.
func TestJobSchema(t *testing.T) {
	files, err := fs.Glob(Files, "*.nomad.hcl")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			src, err := Files.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			f, diags := hclparse.NewParser().ParseHCL(src, name)
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			for _, b := range f.Body.(*hclsyntax.Body).Blocks {
				if b.Type == "job" {
					checkBody(t, name, "job", b.Body, reflect.TypeFor[api.Job]())
				}
			}
		})
	}
}

func TestJobSchemaCatchesTypos(t *testing.T) {
	src := []byte(`job "x" {
  typo = 1
  group "g" {
    task "t" {
      volume_mount { read_onyl = true }
      config { anything = "goes" }
      dynamic "artifact" {
        for_each = []
        content { sorce = "x" }
      }
    }
    nosuchblock {}
  }
}`)
	f, diags := hclparse.NewParser().ParseHCL(src, "typo.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	rec := &recorder{}
	checkBody(rec, "typo.hcl", "job", f.Body.(*hclsyntax.Body).Blocks[0].Body, reflect.TypeFor[api.Job]())
	want := []string{`job: unknown attribute "typo"`, `job.group.task.volume_mount: unknown attribute "read_onyl"`,
		`job.group.task.artifact: unknown attribute "sorce"`, `job.group: unknown block "nosuchblock"`}
	for _, w := range want {
		if !strings.Contains(strings.Join(rec.errs, "\n"), w) {
			t.Errorf("errors %q lack %q", rec.errs, w)
		}
	}
	if len(rec.errs) != len(want) {
		t.Errorf("got %d errors %q, want %d", len(rec.errs), rec.errs, len(want))
	}
}

// reporter is the part of testing.T checkBody uses.
type reporter interface {
	Helper()
	Errorf(format string, args ...any)
}

type recorder struct{ errs []string }

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, strings.TrimSpace(fmt.Sprintf(format, args...)))
}

// fields returns the attribute and block names of a struct type from its
// hcl tags, with the Go type of each block.
func fields(typ reflect.Type) (attrs map[string]bool, blocks map[string]reflect.Type) {
	attrs, blocks = map[string]bool{}, map[string]reflect.Type{}
	for i := range typ.NumField() {
		f := typ.Field(i)
		tag, ok := f.Tag.Lookup("hcl")
		if !ok {
			continue
		}
		name, kind, _ := strings.Cut(tag, ",")
		switch kind {
		case "block":
			blocks[name] = f.Type
		case "label", "remain":
		default: // "optional", "attr", ""
			if name != "" {
				attrs[name] = true
			}
		}
	}
	return attrs, blocks
}

// elem returns the struct type behind pointers and slices, or nil when t is
// free-form (a map or an interface).
func elem(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	return t
}

func checkBody(t reporter, file, where string, body *hclsyntax.Body, typ reflect.Type) {
	t.Helper()
	attrs, blocks := fields(typ)
	for name, a := range body.Attributes {
		if !attrs[name] {
			t.Errorf("%s:%d: %s: unknown attribute %q", file, a.SrcRange.Start.Line, where, name)
		}
	}
	for _, b := range body.Blocks {
		typeName, inner := b.Type, b.Body
		if b.Type == "dynamic" && len(b.Labels) == 1 { // HCL's dynamic blocks: check the content
			typeName = b.Labels[0]
			inner = nil
			for _, c := range b.Body.Blocks {
				if c.Type == "content" {
					inner = c.Body
				}
			}
			if inner == nil {
				t.Errorf("%s:%d: %s: dynamic %q without content", file, b.TypeRange.Start.Line, where, typeName)
				continue
			}
		}
		bt, ok := blocks[typeName]
		if !ok {
			t.Errorf("%s:%d: %s: unknown block %q", file, b.TypeRange.Start.Line, where, typeName)
			continue
		}
		if st := elem(bt); st != nil {
			checkBody(t, file, where+"."+typeName, inner, st)
		}
	}
}
