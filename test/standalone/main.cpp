// The other files of this program are the test: each compiles one public
// header alone. Reaching main means they all did.
int main() { return 0; }
