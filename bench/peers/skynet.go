// Skynet (https://github.com/atemerev/skynet's shape): 1M leaves in a 10-ary tree of goroutines,
// each node sums its children's answers received over an unbuffered channel. Answer:
// 499999500000 for 1M leaves.
//
// Usage: go run skynet.go [leaves] [reps]. Prints one line per repetition:
//   skynet go leaves=1000000 result=499999500000 ns=123456789
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

func skynet(c chan int, num int, size int, div int) {
	if size == 1 {
		c <- num
		return
	}
	rc := make(chan int)
	for i := 0; i < div; i++ {
		go skynet(rc, num+i*(size/div), size/div, div)
	}
	sum := 0
	for i := 0; i < div; i++ {
		sum += <-rc
	}
	c <- sum
}

func main() {
	leaves, reps := 1000000, 5
	if len(os.Args) > 1 {
		leaves, _ = strconv.Atoi(os.Args[1])
	}
	if len(os.Args) > 2 {
		reps, _ = strconv.Atoi(os.Args[2])
	}
	for r := 0; r < reps; r++ {
		start := time.Now()
		c := make(chan int)
		go skynet(c, 0, leaves, 10)
		result := <-c
		fmt.Printf("skynet go leaves=%d result=%d ns=%d\n", leaves, result, time.Since(start).Nanoseconds())
	}
}
