package session

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestDeadlines: a call's context keeps its caller's values, not its
// cancellation, and ends between StoreTimeout minus a tick and StoreTimeout
// after the call began; calls within a tick share one deadline.
func TestDeadlines(t *testing.T) {
	type key struct{}
	d := newDeadlines(200 * time.Millisecond)
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	cancel()
	before := time.Now()
	ctx := d.of(parent)
	after := time.Now()
	dl, ok := ctx.Deadline()
	if !ok || dl.Before(before.Add(d.timeout-d.tick)) || dl.After(after.Add(d.timeout)) {
		t.Fatalf("deadline %v after the call, want between %v and %v", dl.Sub(before), d.timeout-d.tick, d.timeout)
	}
	if ctx.Value(key{}) != "v" || ctx.Err() != nil {
		t.Fatalf("value %v, err %v: want the caller's value and no error though the caller is cancelled", ctx.Value(key{}), ctx.Err())
	}
	if dl2, _ := d.of(parent).Deadline(); time.Since(before) < d.tick && !dl2.Equal(dl) {
		t.Errorf("two calls within a tick have deadlines %v and %v", dl, dl2)
	}
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the call's context did not end")
	}
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Errorf("Err = %v, want DeadlineExceeded", ctx.Err())
	}
	if later, _ := d.of(parent).Deadline(); !later.After(dl) {
		t.Errorf("a call after the deadline got %v, not a later one", later)
	}
}
