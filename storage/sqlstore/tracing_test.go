package sqlstore

import "testing"

func TestStatementName(t *testing.T) {
	for q, want := range map[string]string{
		"SELECT id, name FROM oauth2_clients WHERE id = $1":       "SELECT oauth2_clients",
		"INSERT INTO oauth2_tokens (kind, signature) VALUES ($1)": "INSERT oauth2_tokens",
		"UPDATE users SET name = ? WHERE subject = ?":             "UPDATE users",
		"DELETE FROM flows WHERE expires_at < ?":                  "DELETE flows",
		"BEGIN":                                                   "BEGIN",
		"  ":                                                      "sql",
		"WITH x AS (SELECT 1) SELECT * FROM \"attempts\" JOIN x ON true": "WITH attempts",
	} {
		if got := statementName(q); got != want {
			t.Errorf("statementName(%q) = %q, want %q", q, got, want)
		}
	}
}
