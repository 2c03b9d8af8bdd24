#include "cli/cli.h"

int main(int argc, char** argv) { return countersign::cli::run(argc, argv); }
