package dlr

// RemoveRetry is removeRetry, for the tests of package dlr_test.
const RemoveRetry = removeRetry
