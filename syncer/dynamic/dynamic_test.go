package dynamic

import (
	"testing"
	"time"
)

func TestDurationSet(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"42s", 42 * time.Second, false},
		{"1m30s", 90 * time.Second, false},
		{"100ms", 100 * time.Millisecond, false},
		{"42", 42 * time.Second, false}, // bare integers are seconds, as Traefik's tags
		{"0", 0, false},
		{"-5", -5 * time.Second, false},
		{"soon", 0, true},
		{"", 0, true},
		{"9999999999999", 0, true}, // seconds that overflow a time.Duration
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			var d Duration
			err := d.Set(tc.in)
			if (err != nil) != tc.err {
				t.Fatalf("Set(%q) error = %v, want error %v", tc.in, err, tc.err)
			}
			if err == nil && time.Duration(d) != tc.want {
				t.Fatalf("Set(%q) = %v, want %v", tc.in, time.Duration(d), tc.want)
			}
		})
	}
}

func TestDurationText(t *testing.T) {
	d := Duration(90 * time.Second)
	b, err := d.MarshalText()
	if err != nil || string(b) != "1m30s" {
		t.Fatalf("MarshalText = %q, %v", b, err)
	}
	var back Duration
	if err := back.UnmarshalText(b); err != nil || back != d {
		t.Fatalf("UnmarshalText(%q) = %v, %v", b, back, err)
	}
}
