package dlr_test

import (
	"testing"

	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/dlr/storetest"
)

func TestMemStoreConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(*testing.T) dlr.Store { return dlr.NewMemStore(nil) }, storetest.Volatile())
}
