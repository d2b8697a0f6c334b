package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
)

type node struct {
	key   string
	left  *node
	right *node
}

func insert(n *node, k string) *node {
	if n == nil {
		return &node{key: k}
	}
	if k < n.key {
		n.left = insert(n.left, k)
	} else {
		n.right = insert(n.right, k)
	}
	return n
}

func main() {
	n := 2000
	if len(os.Args) > 1 {
		fmt.Sscan(os.Args[1], &n)
	}
	var root *node
	words := make(map[string]int)
	for i := 0; i < n; i++ {
		w := strings.Repeat(string(rune('a'+i%26)), 1+i%13) + fmt.Sprint(i*7919%1000)
		words[w]++
		root = insert(root, w)
		if i%500 == 499 {
			root = nil // drop the tree: garbage for the next GC
		}
	}
	keys := make([]string, 0, len(words))
	for k := range words {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Println(len(keys), keys[0], root != nil)
}
