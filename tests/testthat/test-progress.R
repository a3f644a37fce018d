breast21 <- function() {
  read_catalogue(system.file("extdata", "breast21_SBS96.txt", package = "sigfactor"))
}

# The messages an expression signals, collected (and muffled).
messages_of <- function(expr) {
  said <- character()
  withCallingHandlers(expr, message = function(m) {
    said <<- c(said, conditionMessage(m))
    invokeRestart("muffleMessage")
  })
  said
}

test_that("extraction reports each rank as an R message when verbose", {
  skip_if_no_engine()
  said <- messages_of(suppressWarnings(
    denovo_signatures(breast21(), ranks = 1:3, nrun = 5, seed = 1, max_iter = 300)))
  # Relayed from the engine's progress bar: every rank is reported as fitted (a relay that was
  # not installed, or a parser that missed tqdm's format, would report none).
  fitted <- grep("fitted \\(", said, value = TRUE)
  reported <- as.integer(unlist(strsplit(sub("^.*rank ([0-9, ]+) fitted.*$", "\\1", fitted),
                                         ", ")))
  expect_setequal(reported, 1:3)
  expect_match(said[1], "Extracting signatures", fixed = TRUE)
  expect_match(said[length(said)], "Chose [0-9] signature")
})

test_that("verbose = FALSE and suppressMessages() leave nothing on the console, Python's stderr included", {
  skip_if_no_engine()
  code <- c(
    sprintf("mm <- read_catalogue(%s)", deparse(system.file("extdata", "breast21_SBS96.txt",
                                                            package = "sigfactor"))),
    "cat('QUIET START\\n')",
    "res <- suppressWarnings(denovo_signatures(mm, ranks = 1:2, nrun = 5, max_iter = 300, verbose = FALSE))",
    "res <- suppressWarnings(suppressMessages(denovo_signatures(mm, ranks = 1:2, nrun = 5, max_iter = 300)))",
    "cat('QUIET END\\n')",
    "res <- suppressWarnings(denovo_signatures(mm, ranks = 1:2, nrun = 5, max_iter = 300))"
  )
  output <- run_with_python(code, reticulate::py_config()$python)
  start <- which(output == "QUIET START")
  end <- which(output == "QUIET END")
  expect_length(start, 1)
  expect_length(end, 1)
  expect_identical(end, start + 1L)
  loud <- output[-seq_len(end)]
  expect_true(any(grepl("fitted (2 of 2 ranks)", loud, fixed = TRUE)))
  # The engine's own bar (tqdm, "extract: ...%|") never reaches the console.
  expect_false(any(grepl("%|", output, fixed = TRUE)))
})

test_that("the relay parses the bars tqdm really draws", {
  skip_if_no_engine()
  # A tqdm bar drawn into a buffer by Python, as the engine draws its own.
  io <- reticulate::import("io", convert = FALSE)
  tqdm <- reticulate::import("tqdm", convert = FALSE)
  buffer <- io$StringIO()
  bar <- tqdm$tqdm(total = 30L, desc = "extract", unit = "restart", file = buffer, mininterval = 0)
  bar$update(20L)
  bar$set_postfix_str("rank 2, iteration 120")
  bar$close()
  lines <- strsplit(reticulate::py_to_r(buffer$getvalue()), "[\r\n]+")[[1]]
  lines <- lines[nzchar(trimws(lines))]
  report <- sigfactor:::progress_reporter("ranks", ranks = c(4, 5, 6), nrun = 10)
  said <- unlist(lapply(lines, sigfactor:::progress_message, report = report))
  expect_identical(said, "rank 4, 5 fitted (2 of 3 ranks)")
  stages <- sigfactor:::progress_reporter("stages")
  expect_identical(sigfactor:::progress_message(lines[length(lines)], stages), "fitting extract")
  expect_null(sigfactor:::progress_message(lines[length(lines)], stages))
  # Lines that are not bars pass through as they are.
  expect_identical(sigfactor:::progress_message("a note from Python", stages), "a note from Python")
})
