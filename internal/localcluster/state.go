package localcluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// StateFile is the file in a cluster directory that a supervising process
// (`ferry local run`) writes once the cluster is ready, and removes when it
// has stopped it.
const StateFile = "local.json"

// State describes a running cluster to the commands that did not start it.
type State struct {
	// SupervisorPID is the process that owns the cluster; SIGTERM to it stops
	// the cluster.
	SupervisorPID int            `json:"supervisorPid"`
	Mode          Mode           `json:"mode"`
	Nodes         int            `json:"nodes"`
	Server        string         `json:"server"`
	Kubeconfig    string         `json:"kubeconfig"`
	BinDir        string         `json:"binDir"`
	Components    map[string]int `json:"components"`
	StartedAt     time.Time      `json:"startedAt"`
}

// State returns the cluster's State as owned by the process supervisorPID.
func (c *Cluster) State(supervisorPID int) State {
	return State{
		SupervisorPID: supervisorPID,
		Mode:          c.opts.Mode,
		Nodes:         c.opts.Nodes,
		Server:        c.server,
		Kubeconfig:    c.kubecfg,
		BinDir:        c.opts.BinDir,
		Components:    c.PIDs(),
		StartedAt:     time.Now().UTC(),
	}
}

// WriteState writes s to dir/local.json atomically.
func WriteState(dir string, s State) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode cluster state: %w", err)
	}
	path := filepath.Join(dir, StateFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// ErrNoState means the directory holds no running cluster's state.
var ErrNoState = errors.New("no local control plane")

// ReadState reads dir/local.json; ErrNoState when there is none.
func ReadState(dir string) (State, error) {
	path := filepath.Join(dir, StateFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return State{}, fmt.Errorf("%w in %s", ErrNoState, dir)
	}
	if err != nil {
		return State{}, fmt.Errorf("read %s: %w", path, err)
	}
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return State{}, fmt.Errorf("parse %s: %w", path, err)
	}
	return s, nil
}

// RemoveState deletes dir/local.json if it exists.
func RemoveState(dir string) error {
	err := os.Remove(filepath.Join(dir, StateFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove cluster state: %w", err)
	}
	return nil
}
