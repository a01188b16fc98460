package builder

import (
	"strings"
	"text/template"
	"unicode"
)

// funcs are the functions the default rule template may call.
var funcs = template.FuncMap{
	"normalize":  Normalize,
	"lower":      strings.ToLower,
	"upper":      strings.ToUpper,
	"replace":    func(old, new, s string) string { return strings.ReplaceAll(s, old, new) },
	"trimPrefix": func(prefix, s string) string { return strings.TrimPrefix(s, prefix) },
	"trimSuffix": func(suffix, s string) string { return strings.TrimSuffix(s, suffix) },
}

// Normalize turns a catalog name into a Traefik object name as Traefik's
// providers do: runs of characters that are neither letters nor digits
// become one "-", and leading or trailing ones are dropped ("my_app.v2" →
// "my-app-v2").
func Normalize(name string) string {
	if normalized(name) {
		return name
	}
	return strings.Join(strings.FieldsFunc(name, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsNumber(r)
	}), "-")
}

// normalized reports whether Normalize(name) is name: ASCII letters and
// digits in runs separated by single "-".
func normalized(name string) bool {
	if name == "" || name[0] == '-' || name[len(name)-1] == '-' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-' && name[i-1] != '-':
		default:
			return false
		}
	}
	return true
}
