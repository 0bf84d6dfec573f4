// Command log-writer batches check results into PostgreSQL: ping logs, monitor status, incidents and rollups.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout, os.LookupEnv); err != nil {
		fmt.Fprintf(os.Stderr, "log-writer: %v\n", err)
		os.Exit(1)
	}
}
