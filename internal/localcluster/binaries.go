package localcluster

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// KubeVersion is the Kubernetes release the control-plane binaries are built
// from. hack/build-kube.sh pins the same version; a test keeps them equal.
const KubeVersion = "v1.37.2"

// EnvBinDir names the environment variable that overrides where the
// control-plane binaries are looked up.
const EnvBinDir = "FERRY_KUBE_DIR"

// binaryNames are the executables `make kube` builds; stage files for kwok sit
// beside them in stages/.
var binaryNames = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok"}

// ErrBinariesMissing is returned when the control-plane binaries have not been
// built. Its message tells the user how to build them.
var ErrBinariesMissing = errors.New("control-plane binaries not built: run `make kube`")

// DefaultBinDir returns where `make kube` puts the binaries: $FERRY_KUBE_DIR,
// else $XDG_CACHE_HOME/ferry/kube/<version>, else ~/.cache/ferry/kube/<version>.
func DefaultBinDir() string {
	if dir := os.Getenv(EnvBinDir); dir != "" {
		return dir
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = os.TempDir()
		}
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "ferry", "kube", KubeVersion)
}

// CheckBinaries reports whether dir holds every control-plane binary and
// kwok's stage files, naming what is missing.
func CheckBinaries(dir string) error {
	for _, name := range binaryNames {
		path := filepath.Join(dir, name)
		info, err := os.Stat(path)
		if err != nil || info.IsDir() || info.Mode().Perm()&0o111 == 0 {
			return fmt.Errorf("%w (no executable %s)", ErrBinariesMissing, path)
		}
	}
	stages, err := stageFiles(dir)
	if err != nil || len(stages) == 0 {
		return fmt.Errorf("%w (no kwok stage files in %s)", ErrBinariesMissing, filepath.Join(dir, "stages"))
	}
	return nil
}

func stageFiles(dir string) ([]string, error) {
	return filepath.Glob(filepath.Join(dir, "stages", "*.yaml"))
}
