package chartrepo

import (
	"strings"
	"testing"
)

func TestArchiveLRU(t *testing.T) {
	l := newArchiveLRU(10)
	a := func(n int) *Archive { return &Archive{Data: []byte(strings.Repeat("x", n))} }
	l.add("a", a(4))
	l.add("b", a(4))
	if _, ok := l.get("a"); !ok { // a is now the most recent
		t.Fatal("a missing")
	}
	l.add("c", a(4)) // 12 > 10: b, the least recent, goes
	if _, ok := l.get("b"); ok {
		t.Error("b kept over the budget")
	}
	if n, b := l.len(); n != 2 || b != 8 {
		t.Errorf("len = %d archives, %d bytes; want 2, 8", n, b)
	}
	l.add("huge", a(11)) // larger than the budget: not kept, nothing evicted
	if _, ok := l.get("huge"); ok {
		t.Error("an archive larger than the budget was kept")
	}
	if n, _ := l.len(); n != 2 {
		t.Errorf("the huge archive evicted others: %d left", n)
	}
	l.add("a", a(2)) // replacing counts the new size only
	if n, b := l.len(); n != 2 || b != 6 {
		t.Errorf("after replacing: %d archives, %d bytes; want 2, 6", n, b)
	}
}
