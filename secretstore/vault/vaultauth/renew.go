package vaultauth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"time"
)

// refreshTimeout bounds one renewal or login of the background loop.
const refreshTimeout = time.Minute

// lease is the Client's record of its current token.
type lease struct {
	token     string
	obtained  time.Time     // when the request that granted ttl was sent
	ttl       time.Duration // 0 when the token does not expire or its TTL is unknown
	renewable bool

	// increment is the TTL to request at renewal, which is the TTL granted
	// at login. A renewal that grants less has reached the token's max TTL.
	increment time.Duration
}

// maxIssued is how many of its latest tokens the Client recognises in a
// rejected request. A request still carries an older token only if it
// outlasted several logins.
const maxIssued = 4

func (c *Client) setLease(l lease) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l.token != c.lease.token {
		c.issued = append(c.issued, l.token)
		if len(c.issued) > maxIssued {
			c.issued = c.issued[len(c.issued)-maxIssued:]
		}
	}
	c.lease = l
}

// issuedToken reports whether token is one of the Client's latest tokens,
// rather than one that a caller set on a copy of the Vault client.
func (c *Client) issuedToken(token string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Contains(c.issued, token)
}

func (c *Client) currentLease() lease {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lease
}

// run renews the token or logs in again until Close.
func (c *Client) run(ctx context.Context) {
	defer close(c.done)
	next := c.renewalDelay()
	for {
		var due <-chan time.Time
		if next >= 0 {
			due = c.after(next)
		}
		select {
		case <-c.stop:
			return
		case <-c.changed:
			next = c.renewalDelay()
			continue
		case <-due:
		}

		refreshCtx, cancel := context.WithTimeout(ctx, refreshTimeout)
		next = c.refresh(refreshCtx)
		cancel()
	}
}

// renewalDelay returns how long to wait before refreshing the current
// token: until two thirds of its TTL have passed, which leaves a third of
// the TTL to retry a failed renewal or login. It returns -1 when there is
// nothing to refresh, because the token does not expire, or it cannot be
// renewed and there is no login method.
func (c *Client) renewalDelay() time.Duration {
	l := c.currentLease()
	if l.ttl <= 0 || (!l.renewable && c.method == nil) {
		return -1
	}
	due := l.obtained.Add(l.ttl * 2 / 3)
	return max(due.Sub(c.now()), 0)
}

// retryDelay returns how long to wait after a failed refresh of l.
func retryDelay(l lease) time.Duration {
	return min(max(l.ttl/10, 5*time.Second), time.Minute)
}

// refresh renews the token, or logs in again when renewal cannot keep it
// alive, and returns the delay until the next refresh.
func (c *Client) refresh(ctx context.Context) time.Duration {
	if err := c.acquire(ctx); err != nil {
		return retryDelay(c.currentLease())
	}
	defer c.release()

	l := c.currentLease()
	if l.renewable {
		capped, err := c.renew(ctx, l)
		switch {
		case err == nil && (!capped || c.method == nil):
			return c.renewalDelay()
		case err == nil:
			c.log.Info("the Vault token reaches its max TTL soon; logging in again", "expires_at", c.currentLease().expiry())
		case isStatus(err, http.StatusForbidden, http.StatusBadRequest):
			if c.method == nil {
				c.log.Error("Vault did not renew the token from the environment, and rotor cannot log in without another auth.method", "error", err)
				return -1
			}
			c.log.Info("Vault did not renew the token; logging in again", "error", err)
		case closing(ctx):
			return -1
		default:
			d := retryDelay(l)
			c.log.Warn("renew the Vault token", "error", err, "retry_in", d)
			return d
		}
	}

	if c.method == nil {
		return -1
	}
	if err := c.login(ctx); err != nil {
		if closing(ctx) {
			return -1
		}
		d := retryDelay(l)
		c.log.Error("log in to Vault again", "error", err, "retry_in", d)
		return d
	}
	return c.renewalDelay()
}

// closing reports whether Close cancelled ctx. A failure then is expected
// and not logged.
func closing(ctx context.Context) bool {
	return errors.Is(ctx.Err(), context.Canceled)
}

// renew renews l's token by its increment and reports whether Vault capped
// the renewal at the token's max TTL. The caller holds c.sem. Errors carry
// the status but not Vault's response body.
func (c *Client) renew(ctx context.Context, l lease) (capped bool, err error) {
	sent := c.now()
	resp, err := c.api.Auth().Token().RenewTokenAsSelfWithContext(withoutRetry(ctx), l.token, int(l.increment/time.Second))
	if err != nil {
		return false, safeError(err)
	}
	if resp == nil || resp.Auth == nil {
		return false, errors.New("the renewal response has no auth section")
	}

	renewed := l
	renewed.obtained = sent
	renewed.ttl = seconds(resp.Auth.LeaseDuration)
	renewed.renewable = resp.Auth.Renewable
	c.setLease(renewed)
	c.log.Debug("renewed the Vault token", "ttl", renewed.ttl)
	return renewed.ttl < l.increment, nil
}

func (l lease) expiry() time.Time { return l.obtained.Add(l.ttl).UTC() }

// seconds converts a TTL in seconds, as Vault sends it, to a duration.
func seconds(n int) time.Duration { return time.Duration(n) * time.Second }

// intField returns the whole number data[name], or 0.
func intField(data map[string]any, name string) int {
	switch v := data[name].(type) {
	case json.Number:
		n, err := v.Int64()
		if err != nil {
			return 0
		}
		return int(n)
	case float64:
		return int(v)
	}
	return 0
}
