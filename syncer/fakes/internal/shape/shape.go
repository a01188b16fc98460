// Package shape compares the shape of two JSON documents — which fields
// objects have, at which paths — so that the fakes' tests can hold their
// answers to the answers recorded from the real agents, whatever the
// values.
package shape

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Missing returns where the objects of got lack fields that those of want
// have at the same path ("" if none): what a client reading the real
// answer would find missing in the fake's. Fields got has beyond want's are
// not reported (the fakes marshal the current API types, which have fields
// newer than the recorded agents). Arrays are compared element by element
// with want's first element; the objects at the paths in dataMaps
// ("$.TaskStates", "$[].Checks") are maps keyed by data, whose values are
// compared with want's first value. A field that is null on one side and
// an object or array on the other is not a difference.
func Missing(want, got []byte, dataMaps ...string) (string, error) {
	var w, g any
	if err := json.Unmarshal(want, &w); err != nil {
		return "", fmt.Errorf("shape: want: %w", err)
	}
	if err := json.Unmarshal(got, &g); err != nil {
		return "", fmt.Errorf("shape: got: %w", err)
	}
	var diffs []string
	walk(w, g, "$", dataMaps, &diffs)
	return strings.Join(diffs, "\n"), nil
}

func walk(w, g any, path string, dataMaps []string, diffs *[]string) {
	switch wv := w.(type) {
	case map[string]any:
		gv, ok := g.(map[string]any)
		if !ok {
			if g != nil {
				*diffs = append(*diffs, fmt.Sprintf("%s: an object in the real answer, %T here", path, g))
			}
			return
		}
		if slices.ContainsFunc(dataMaps, func(p string) bool { return p == path }) {
			var first any
			for _, k := range sortedKeys(wv) {
				first = wv[k]
				break
			}
			if first == nil {
				return
			}
			for _, k := range sortedKeys(gv) {
				walk(first, gv[k], path+".*", dataMaps, diffs)
			}
			return
		}
		for _, k := range sortedKeys(wv) {
			if _, ok := gv[k]; !ok {
				*diffs = append(*diffs, fmt.Sprintf("%s: field %s missing", path, k))
				continue
			}
			walk(wv[k], gv[k], path+"."+k, dataMaps, diffs)
		}
	case []any:
		gv, ok := g.([]any)
		if !ok {
			if g != nil {
				*diffs = append(*diffs, fmt.Sprintf("%s: an array in the real answer, %T here", path, g))
			}
			return
		}
		if len(wv) == 0 {
			return
		}
		for _, e := range gv {
			walk(wv[0], e, path+"[]", dataMaps, diffs)
		}
	}
}

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
