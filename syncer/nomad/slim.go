package nomad

import "github.com/hashicorp/nomad/api"

// What the facts read of an allocation or node event. The client's Event
// methods decode the whole payload (an allocation's resources, networks
// and task events; a node's attributes, drivers and resources): ~0.25 ms
// of CPU per event, more than the syncer's whole build, render and write
// of a change at small scale (BenchmarkApplyEvent). Cutting the payload
// down to these fields first leaves the decoding to the client and the
// result the same for what the facts read (TestSlimEvents).
var (
	allocFields = fields{
		"ID": nil, "Namespace": nil, "JobID": nil, "TaskGroup": nil, "NodeID": nil,
		"DesiredStatus": nil, "ClientStatus": nil, "DeploymentID": nil, "DeploymentStatus": nil,
		"CreateIndex": nil,
		"Job":         {"Version": nil},
		"TaskStates":  {"*": {"State": nil, "Restarts": nil}},
	}
	nodeFields = fields{"ID": nil, "Drain": nil, "DrainStrategy": nil, "SchedulingEligibility": nil}
)

// fields says which fields of a decoded JSON object to keep: a field whose
// value is nil is kept whole, one with fields of its own is cut down to
// them; "*" applies to every field (the values of a map).
type fields map[string]fields

// slim returns ev with the object under key in its payload cut down to
// keep.
func slim(ev *api.Event, key string, keep fields) *api.Event {
	out := *ev
	out.Payload = map[string]any{}
	if v, ok := ev.Payload[key]; ok {
		out.Payload[key] = prune(v, keep)
	}
	return &out
}

// prune returns v cut down to keep (v itself if it is no object, or keep
// is nil).
func prune(v any, keep fields) any {
	m, ok := v.(map[string]any)
	if !ok || keep == nil {
		return v
	}
	if each, ok := keep["*"]; ok {
		out := make(map[string]any, len(m))
		for k, e := range m {
			out[k] = prune(e, each)
		}
		return out
	}
	out := make(map[string]any, len(keep))
	for k, sub := range keep {
		if e, ok := m[k]; ok {
			out[k] = prune(e, sub)
		}
	}
	return out
}
