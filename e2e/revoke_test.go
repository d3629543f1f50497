package e2e

import (
	crand "crypto/rand"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestLogoutEverywhereRacingRelogins: one browser of a user writes a
// canary into its session, then logs in again and again as the same user,
// alternately on two instances: each login renews its session to a new
// token and keeps its values. Meanwhile a second browser of that user
// logs out everywhere on a third instance, at a random moment. Once that
// answer is in, nothing written before it survives: the first browser's
// cookie, whatever it is now, reads no canary on any instance (a login
// that came after the revoke starts a fresh session, without the old
// values). 30 trials, each bounded by its requests.
func TestLogoutEverywhereRacingRelogins(t *testing.T) {
	c := startCluster(t, clusterConfig{})
	i1, i2, i3 := c.Instances[0].URL, c.Instances[1].URL, c.Instances[2].URL
	const trials = 30
	relogins := 0
	for trial := range trials {
		user := "racer" + strings.ToLower(crand.Text()[:8])
		canary := crand.Text()
		a, b := newClient(t, "browser-a"), newClient(t, "browser-b")
		a.login(t, i1, user)
		if r := a.mustPostJSON(t, i1+"/api/session", map[string]string{"canary": canary}); r.Code != http.StatusOK {
			t.Fatalf("trial %d: writing the canary: %v", trial, r)
		}
		b.login(t, i3, user)

		stop := make(chan struct{})
		var wg sync.WaitGroup
		var mu sync.Mutex
		var loopErr error
		wg.Go(func() {
			form := url.Values{"name": {user}}.Encode()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				base := []string{i1, i2}[n%2]
				r, err := a.do("POST", base+"/login", form, http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
				mu.Lock()
				if err != nil || r.Code != http.StatusSeeOther {
					if loopErr == nil {
						loopErr = err
						if err == nil {
							loopErr = &replyError{r}
						}
					}
					mu.Unlock()
					return
				}
				relogins++
				mu.Unlock()
			}
		})
		time.Sleep(time.Duration(5+rand.IntN(40)) * time.Millisecond)
		r, err := b.do("POST", i3+"/logout-everywhere", "", http.Header{"Accept": {"application/json"}})
		close(stop)
		wg.Wait()
		if err != nil || r.Code != http.StatusOK {
			t.Fatalf("trial %d: logout everywhere: %v %v", trial, r, err)
		}
		if loopErr != nil {
			t.Fatalf("trial %d: a login of the racing browser failed: %v", trial, loopErr)
		}
		for _, base := range []string{i1, i2, i3} {
			r := a.mustGet(t, base+"/api/session")
			var v map[string]json.RawMessage
			if r.Code != http.StatusOK || json.Unmarshal([]byte(r.Body), &v) != nil {
				t.Fatalf("trial %d: GET /api/session: %v", trial, r)
			}
			if _, ok := v["canary"]; ok {
				t.Fatalf("trial %d: the canary written before log out everywhere survived it, read at %s: %v", trial, base, r)
			}
		}
	}
	t.Logf("%d trials, %d re-logins raced log out everywhere; no canary survived", trials, relogins)
}

type replyError struct{ r reply }

func (e *replyError) Error() string { return e.r.String() }
