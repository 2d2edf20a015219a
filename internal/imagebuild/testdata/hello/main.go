// Command hello is the program the imagebuild tests put in an image.
package main

import "fmt"

var version = "dev"

func main() { fmt.Println("hello", version) }
