package ops

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/clientspec"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Clients registers, changes and removes OAuth clients.
type Clients struct {
	st      storage.ClientStore
	rec     recorder
	env     clientspec.Env
	sectors *http.Client
	now     func() time.Time
}

// List returns every client, sorted by id.
func (c *Clients) List(ctx context.Context) ([]storage.Client, error) { return c.st.ListClients(ctx) }

// Get returns one client.
func (c *Clients) Get(ctx context.Context, id string) (storage.Client, error) {
	return c.st.GetClient(ctx, id)
}

// build validates a spec (a *clientspec.MetadataError names what is wrong)
// and fetches its sector document, outside any transaction.
func (c *Clients) build(ctx context.Context, s clientspec.Spec) (storage.Client, string, error) {
	cl, secret, err := s.Build(c.env, c.now().UTC())
	if err == nil && c.sectors != nil {
		err = s.VerifySector(ctx, c.sectors)
	}
	return cl, secret, err
}

// Create registers a client. It returns the client and its secret, shown
// once ("" for a client without one).
func (c *Clients) Create(ctx context.Context, a Actor, s clientspec.Spec) (storage.Client, string, error) {
	cl, secret, err := c.build(ctx, s)
	if err != nil {
		return cl, "", err
	}
	err = c.rec.do(ctx, a, func(ctx context.Context) (event, error) {
		return event{typ: "client.created", clientID: cl.ID}, c.st.CreateClient(ctx, cl)
	})
	return cl, secret, err
}

// Update applies change to the client's current registration and stores
// the result; the id, the creation time and the secret stay. The secret is
// returned only when the client had none and now gets one.
func (c *Clients) Update(ctx context.Context, a Actor, id string, change func(*clientspec.Spec) error) (storage.Client, string, error) {
	old, err := c.st.GetClient(ctx, id)
	if err != nil {
		return old, "", err
	}
	spec := clientspec.SpecOf(old)
	if err := change(&spec); err != nil {
		return old, "", err
	}
	spec.ID = old.ID
	nc, secret, err := c.build(ctx, spec)
	if err != nil {
		return old, "", err
	}
	var updated storage.Client
	err = c.rec.do(ctx, a, func(ctx context.Context) (event, error) {
		var err error
		updated, err = c.st.UpdateClient(ctx, id, func(cur storage.Client) (storage.Client, error) {
			next, shown := clientspec.Replace(cur, nc, secret)
			secret = shown
			return next, nil
		})
		return event{typ: "client.updated", clientID: id}, err
	})
	return updated, secret, err
}

// Delete removes a client and revokes its tokens.
func (c *Clients) Delete(ctx context.Context, a Actor, id string) error {
	return c.rec.do(ctx, a, func(ctx context.Context) (event, error) {
		return event{typ: "client.deleted", clientID: id}, c.st.DeleteClient(ctx, id)
	})
}

// RotateSecret gives a confidential client a new secret, shown once; the
// previous one keeps working for grace.
func (c *Clients) RotateSecret(ctx context.Context, a Actor, id string, grace time.Duration) (string, storage.Client, error) {
	if grace < 0 {
		return "", storage.Client{}, InvalidInput("grace must not be negative")
	}
	var secret string
	var cl storage.Client
	err := c.rec.do(ctx, a, func(ctx context.Context) (event, error) {
		var err error
		secret, cl, err = clientspec.RotateSecret(ctx, c.st, id, grace, c.now().UTC())
		if errors.Is(err, clientspec.ErrNoSecret) {
			err = InvalidInput(err.Error())
		}
		return event{typ: "client.secret_rotated", clientID: id, details: map[string]string{"grace": grace.String()}}, err
	})
	return secret, cl, err
}
