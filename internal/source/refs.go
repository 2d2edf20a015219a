package source

import (
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
)

// refSet is one listing of a remote's refs.
type refSet struct {
	head   string                   // target of a symbolic HEAD, if advertised
	hashes map[string]plumbing.Hash // ref name to object (a tag object for annotated tags)
	peeled map[string]plumbing.Hash // ref name to the commit an annotated tag points to
}

func newRefSet(refs []*plumbing.Reference) *refSet {
	s := &refSet{hashes: map[string]plumbing.Hash{}, peeled: map[string]plumbing.Hash{}}
	for _, ref := range refs {
		name := ref.Name().String()
		switch {
		case ref.Type() == plumbing.SymbolicReference:
			if name == "HEAD" {
				s.head = ref.Target().String()
			}
		case strings.HasSuffix(name, "^{}"):
			s.peeled[strings.TrimSuffix(name, "^{}")] = ref.Hash()
		default:
			s.hashes[name] = ref.Hash()
		}
	}
	return s
}

// lookup finds a revision among the refs, in git's order (gitrevisions(7)):
// HEAD, the exact ref name, then refs/<rev>, refs/tags/<rev>, refs/heads/<rev>.
// It returns the ref's full name and the hash to peel (the tag's commit where
// the remote advertised it).
func (s *refSet) lookup(rev string) (string, plumbing.Hash, bool) {
	if s == nil {
		return "", plumbing.ZeroHash, false
	}
	if rev == "" || rev == "HEAD" {
		if s.head != "" {
			if h, ok := s.get(s.head); ok {
				return s.head, h, true
			}
			return "", plumbing.ZeroHash, false
		}
		h, ok := s.get("HEAD")
		return "HEAD", h, ok
	}
	for _, name := range []string{rev, "refs/" + rev, "refs/tags/" + rev, "refs/heads/" + rev} {
		if !strings.HasPrefix(name, "refs/") {
			continue
		}
		if h, ok := s.get(name); ok {
			return name, h, true
		}
	}
	return "", plumbing.ZeroHash, false
}

func (s *refSet) get(name string) (plumbing.Hash, bool) {
	if h, ok := s.peeled[name]; ok {
		return h, true
	}
	h, ok := s.hashes[name]
	return h, ok
}
