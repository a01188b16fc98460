// Package render turns a Traefik dynamic configuration into the bytes that
// Traefik's file provider (yaml, toml) or HTTP provider (json) reads.
//
// Marshal is pure and deterministic: map keys are written sorted, and the
// builder (syncer/builder) already sorts every list, so the same
// configuration gives the same bytes on every node.
package render

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/whiskers-dev/whiskers/syncer/dynamic"
)

// Format is an output format of Marshal.
type Format string

// The formats Marshal writes.
const (
	YAML Format = "yaml"
	JSON Format = "json"
	TOML Format = "toml"
)

// ParseFormat returns the Format named by s (case-insensitive, "yml" is
// YAML). The empty string is YAML, the default.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "yaml", "yml":
		return YAML, nil
	case "json":
		return JSON, nil
	case "toml":
		return TOML, nil
	}
	return "", fmt.Errorf("render: unknown format %q (want yaml, json or toml)", s)
}

// Marshal writes cfg in format f. A nil cfg is an empty configuration. The
// same cfg always gives the same bytes; the output ends with a newline.
func Marshal(cfg *dynamic.Configuration, f Format) ([]byte, error) {
	if cfg == nil {
		cfg = &dynamic.Configuration{}
	}
	var buf bytes.Buffer
	switch f {
	case YAML, "":
		buf.Grow(4096)
		w := yamlWriter{buf: &buf}
		defer w.release()
		if !w.isBlock(reflect.ValueOf(cfg)) {
			buf.WriteString("{}\n")
			break
		}
		if err := w.block(reflect.ValueOf(cfg), 0); err != nil {
			return nil, fmt.Errorf("render: encoding yaml: %w", err)
		}
		return w.join(), nil
	case JSON:
		enc := json.NewEncoder(&buf)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(cfg); err != nil {
			return nil, fmt.Errorf("render: encoding json: %w", err)
		}
	case TOML:
		enc := toml.NewEncoder(&buf)
		enc.Indent = "  "
		if err := enc.Encode(cfg); err != nil {
			return nil, fmt.Errorf("render: encoding toml: %w", err)
		}
		if buf.Len() > 0 && !bytes.HasSuffix(buf.Bytes(), []byte("\n")) {
			buf.WriteByte('\n')
		}
	default:
		return nil, fmt.Errorf("render: unknown format %q", string(f))
	}
	return buf.Bytes(), nil
}
