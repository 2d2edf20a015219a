package chartrepo

import (
	"strings"
	"testing"
	"time"
)

func TestArchiveLRU(t *testing.T) {
	l := newArchiveLRU(10)
	a := func(n int) *Archive { return &Archive{Data: []byte(strings.Repeat("x", n))} }
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l.add("a", a(4), at)
	l.add("b", a(4), at)
	if _, ok := l.get("a", time.Time{}); !ok { // a is now the most recent
		t.Fatal("a missing")
	}
	l.add("c", a(4), at) // 12 > 10: b, the least recent, goes
	if _, ok := l.get("b", time.Time{}); ok {
		t.Error("b kept over the budget")
	}
	if n, b := l.len(); n != 2 || b != 8 {
		t.Errorf("len = %d archives, %d bytes; want 2, 8", n, b)
	}
	l.add("huge", a(11), at) // larger than the budget: not kept, nothing evicted
	if _, ok := l.get("huge", time.Time{}); ok {
		t.Error("an archive larger than the budget was kept")
	}
	if n, _ := l.len(); n != 2 {
		t.Errorf("the huge archive evicted others: %d left", n)
	}
	l.add("a", a(2), at) // replacing counts the new size only
	if n, b := l.len(); n != 2 || b != 6 {
		t.Errorf("after replacing: %d archives, %d bytes; want 2, 6", n, b)
	}
	// An archive downloaded before a hard refresh's time is not taken for it.
	if _, ok := l.get("a", at); ok {
		t.Error("an archive downloaded at the refresh's time was taken for it")
	}
	if _, ok := l.get("a", at.Add(-time.Second)); !ok {
		t.Error("an archive downloaded after the refresh's time was not taken for it")
	}
}
