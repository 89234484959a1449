package provider

import (
	"github.com/gatehouse-id/gatehouse/internal/clientspec"
	"github.com/gatehouse-id/gatehouse/provider/interaction"
	"github.com/gatehouse-id/gatehouse/storage"
)

// subjectFor is how client c sees the local subject: pairwise for its
// sector, or the subject itself.
func (p *Provider) subjectFor(c storage.Client, subject string) string {
	sector := clientspec.SubjectSector(c)
	if sector == "" || subject == "" {
		return subject
	}
	return interaction.PairwiseSubject(p.pairwiseKey, sector, subject)
}
