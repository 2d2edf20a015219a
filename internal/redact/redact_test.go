package redact

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"unicode"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://user:tok3n@git.example.com/org/repo.git", "https://***@git.example.com/org/repo.git"},
		{"https://tok3n@git.example.com/org/repo", "https://***@git.example.com/org/repo"},
		{"https://git.example.com/org/repo", "https://git.example.com/org/repo"},
		{"ssh://git@git.example.com/org/repo", "ssh://git@git.example.com/org/repo"},
		{"ssh://git:pw@git.example.com/org/repo", "ssh://***@git.example.com/org/repo"},
		{"git@git.example.com:org/repo", "git@git.example.com:org/repo"},
		{"https://u:p@ss@host/x?y=z@w", "https://***@host/x?y=z@w"},
		{"/tmp/repo", "/tmp/repo"},
		{"https://u:p@ss@host/a@b?c@d", "https://***@host/a@b?c@d"},
	}
	for _, tt := range tests {
		if got := URL(tt.in); got != tt.want {
			t.Errorf("URL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestText(t *testing.T) {
	tests := []struct{ in, want string }{
		{`resolve https://user:tok3n@h/r at "main": authentication required`, `resolve https://***@h/r at "main": authentication required`},
		{`two: http://a:b@h1/x and "https://c@h2/y"`, `two: http://***@h1/x and "https://***@h2/y"`},
		{"ssh://git@h/r and mail me@example.com", "ssh://git@h/r and mail me@example.com"},
		{"https://u:p@ss@host/x", "https://***@host/x"},
		{"no urls here", "no urls here"},
	}
	for _, tt := range tests {
		got := Text(tt.in)
		if got != tt.want {
			t.Errorf("Text(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if strings.Contains(got, "tok3n") {
			t.Errorf("Text(%q) leaks the token", tt.in)
		}
	}
}

// FuzzText checks that no password survives Text, whatever surrounds it.
func FuzzText(f *testing.F) {
	f.Add("see https://", "user", "s3cr3t", "host/repo")
	f.Fuzz(func(t *testing.T, before, user, pass, after string) {
		// What a URL's user information cannot hold: delimiters, spaces
		// and control characters (url.Parse refuses them).
		if strings.ContainsAny(user+pass, "/?#@\"'<>:") || strings.ContainsFunc(user+pass, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) || len(pass) < 6 {
			return
		}
		in := before + " https://" + user + ":" + pass + "@" + after
		if got := Text(in); strings.Contains(got, ":"+pass+"@") {
			t.Errorf("Text(%q) = %q keeps the password", in, got)
		}
	})
}

func TestValues(t *testing.T) {
	secret := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Secret",
		"data":       map[string]any{"password": base64.StdEncoding.EncodeToString([]byte("hunter22")), "flag": "MQ=="},
		"stringData": map[string]any{"token": "tok3n-XYZ", "port": int64(12345), "nested": map[string]any{"deep": []any{"d33p-value"}}}}}
	values := SecretValues(secret)
	err := fmt.Errorf("apply Secret ns/s: %w", apierrors.NewInvalid(schema.GroupKind{Kind: "Secret"}, "s", field.ErrorList{
		field.Invalid(field.NewPath("stringData", "token"), "tok3n-XYZ", "bad"),
		field.Invalid(field.NewPath("data", "password"), "aHVudGVyMjI=", "bad base64 of hunter22"),
	}))
	got := Values(err, values)
	err = fmt.Errorf("%w; .stringData.nested: expected string, got map[deep:[d33p-value]]", err)
	got = Values(err, values)
	for _, leak := range []string{"tok3n-XYZ", "hunter22", "aHVudGVyMjI=", "d33p-value"} {
		if strings.Contains(got.Error(), leak) {
			t.Errorf("Values kept %q: %v", leak, got)
		}
	}
	if !apierrors.IsInvalid(got) || !strings.Contains(got.Error(), "stringData.token") {
		t.Errorf("Values lost the error's reason or field: %v", got)
	}
	cm := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "data": map[string]any{"k": "visible"}}}
	if v := SecretValues(cm); v != nil {
		t.Errorf("SecretValues(ConfigMap) = %v", v)
	}
}
