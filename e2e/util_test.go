package e2e

import (
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func errorf(format string, a ...any) error { return fmt.Errorf(format, a...) }

func statusCode(err error) codes.Code { return status.Code(err) }
