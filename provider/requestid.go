package provider

import "github.com/google/uuid"

// orderedRequestID is the ID of a new grant, which keys every record of
// it (code, access and refresh tokens, PKCE and OpenID records): a UUIDv7,
// whose leading timestamp makes new keys land at the end of the
// request-ID index rather than on a random page of it. fosite's random
// UUIDv4 cost a random index page per record, which is what a large
// table cannot keep in memory; the 74 random bits keep IDs unique.
func orderedRequestID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString() // the system's randomness failed; fosite's own kind of ID
	}
	return id.String()
}
