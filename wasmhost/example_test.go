package wasmhost_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"

	"github.com/whiskers-dev/whiskers/wasmhost"
)

// A Host is an http.Handler that runs a fresh instance of a WAGI module
// per request: here the built-in redirect handler on /blog.
func ExampleNew() {
	ctx := context.Background()
	cfg := &wasmhost.Config{Handlers: []wasmhost.HandlerConfig{{
		Name:   "old-blog",
		Module: "handlers/redirect/redirect.wasm",
		Route:  "/blog",
		Env:    map[string]string{"DESTINATION": "https://blog.example.com", "STATUS": "308", "INCLUDE_PATH": "true"},
	}}}
	host, err := wasmhost.New(ctx, cfg, wasmhost.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer host.Close(ctx) // waits for requests in flight

	rec := httptest.NewRecorder()
	host.ServeHTTP(rec, httptest.NewRequest("GET", "/blog/2024/hello?x=1", nil))
	fmt.Println(rec.Code, rec.Header().Get("Location"))
	// Output: 308 https://blog.example.com/2024/hello
}
