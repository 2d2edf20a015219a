// Command image builds Ferry's container image without Docker (`make
// image`): an OCI layout under bin/image, pushed when -push names a
// reference. See internal/imagebuild.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ferrycd/ferry/internal/imagebuild"
)

func main() {
	out := flag.String("out", "bin/image", "directory of the OCI layout written")
	platforms := flag.String("platforms", "linux/amd64,linux/arm64", "os/arch pairs, comma-separated")
	push := flag.String("push", "", "reference to push the image index to (REGISTRY/ferry:TAG)")
	ldflags := flag.String("ldflags", "", "linker flags (version stamping)")
	ca := flag.String("ca-bundle", "/etc/ssl/certs/ca-certificates.crt", "PEM bundle of trusted roots put in the image")
	version := flag.String("version", "", "the org.opencontainers.image.version label")
	revision := flag.String("revision", "", "the org.opencontainers.image.revision label")
	flag.Parse()
	if err := run(*out, *platforms, *push, *ldflags, *ca, *version, *revision); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(out, platforms, push, ldflags, ca, version, revision string) error {
	created, err := sourceDate()
	if err != nil {
		return err
	}
	labels := map[string]string{"org.opencontainers.image.title": "ferry"}
	if version != "" {
		labels["org.opencontainers.image.version"] = version
	}
	if revision != "" {
		labels["org.opencontainers.image.revision"] = revision
	}
	ctx := context.Background()
	idx, err := imagebuild.Build(ctx, imagebuild.Options{Package: "./cmd/ferry", Dir: ".", Platforms: strings.Split(platforms, ","),
		LDFlags: ldflags, CABundle: ca, Created: created, Labels: labels, Cmd: []string{"controller"}})
	if err != nil {
		return err
	}
	digest, err := imagebuild.Write(out, idx)
	if err != nil {
		return err
	}
	fmt.Printf("%s: %s (%s)\n", out, digest, platforms)
	if push != "" {
		if err := imagebuild.Push(ctx, push, idx); err != nil {
			return err
		}
		fmt.Printf("pushed %s@%s\n", push, digest)
	}
	return nil
}

// sourceDate is SOURCE_DATE_EPOCH (the reproducible-builds convention; the
// Makefile sets the commit's time), else the Unix epoch.
func sourceDate() (time.Time, error) {
	v := os.Getenv("SOURCE_DATE_EPOCH")
	if v == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	s, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: %w", v, err)
	}
	return time.Unix(s, 0).UTC(), nil
}
