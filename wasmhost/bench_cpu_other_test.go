//go:build !unix

package wasmhost

import "time"

// processCPU is 0: the CPU time metrics are measured on Unix only.
func processCPU() time.Duration { return 0 }
