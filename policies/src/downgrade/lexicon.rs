//! The cue lexicon: words and phrases, in several languages, that hint at a kind of task.
//!
//! Owns the phrase lists and the one Aho–Corasick automaton built from them (once, lazily), and
//! counts cue hits in a text without allocating. Latin-script phrases match case-insensitively on
//! word boundaries (a trailing `*` makes a phrase a stem: `analy*` matches "analyse", "analyzing");
//! Chinese and Japanese phrases match anywhere. It never weighs cues; [`assess`](super::assess)
//! does.

use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

/// The kind of task a lexical cue hints at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cue {
    /// Greeting, thanks or acknowledgement.
    Greeting,
    /// A look-up question: a well-known fact, a definition, a word.
    Lookup,
    /// A local transformation: translate, rephrase, correct, convert, format, summarise.
    Transform,
    /// An operation on a small part of the text: first sentence, one line, word count.
    LocalOp,
    /// Code to write, debug, review or refactor.
    CodeTask,
    /// A stack trace, compiler error or crash marker.
    StackTrace,
    /// Math beyond arithmetic.
    Math,
    /// Analysis, judgement, multi-step reasoning.
    Reasoning,
    /// A weak request for explanation.
    Explain,
    /// Design, architecture, migration, planning.
    Design,
    /// Legal matter.
    Legal,
    /// Medical matter.
    Medical,
    /// Logic puzzle or riddle.
    Puzzle,
    /// Creative writing.
    Creative,
    /// A hard constraint on the answer.
    Constraint,
}

/// Number of [`Cue`] variants, for per-cue count arrays.
pub const CUE_KINDS: usize = 15;

impl Cue {
    /// Index of this cue in a `[_; CUE_KINDS]` array.
    pub fn index(self) -> usize {
        self as usize
    }
}

#[rustfmt::skip]
const GREETING: &[&str] = &[
    "hi", "hello", "hey", "heya", "hiya", "yo", "good morning", "good evening", "good afternoon",
    "good night", "thanks", "thank you", "thank u", "thx", "ty", "cheers", "ok", "okay", "k",
    "got it", "great", "perfect", "cool", "nice", "awesome", "makes sense", "sounds good", "lol",
    "haha", "bye", "goodbye", "see you", "👍", "🙏", "bonjour", "bonsoir", "salut", "merci", "super",
    "d'accord", "parfait", "hallo", "danke", "alles klar", "guten morgen", "guten tag", "prima",
    "hola", "gracias", "buenos días", "buenas", "vale", "olá", "oi", "obrigado", "obrigada",
    "tudo bem", "ciao", "grazie", "buongiorno", "perfetto", "你好", "您好", "谢谢", "多谢", "好的", "こんにちは",
    "こんばんは", "おはよう", "ありがとう", "了解",
];

#[rustfmt::skip]
const LOOKUP: &[&str] = &[
    "what is", "what's", "whats", "what are", "who is", "who was", "who wrote", "who painted",
    "who invented", "when did", "when was", "what year", "where is", "how many", "how much",
    "how do i", "how do you say", "how to", "define", "definition", "meaning of", "what does",
    "stand for", "synonym", "antonym", "opposite of", "rhymes with", "capital of", "plural of",
    "recommend a", "suggest a", "ideas for", "name for", "fun fact", "joke", "what time", "is it",
    "quelle est", "quel est", "qu'est-ce que", "comment dit-on", "was ist", "wie heißt",
    "wie sagt man", "hauptstadt", "qué es", "cuál es", "cómo se dice", "cuántos", "cuántas",
    "qual é", "o que é", "como se diz", "qual è", "che cos'è", "come si dice", "capitale", "是什么",
    "哪里", "首都", "怎么说", "とは", "どこ", "ですか",
];

#[rustfmt::skip]
const TRANSFORM: &[&str] = &[
    "translate", "translation", "into english", "into french", "into spanish", "into german",
    "rephrase", "reword", "paraphrase", "rewrite this more", "rewrite it more", "fix the grammar",
    "fix the spelling", "fix the punctuation", "fix typos", "correct the", "correct this",
    "proofread", "make this", "shorten", "turn this into", "convert", "reformat", "format this",
    "capitalize", "sort these", "alphabetically", "change this to", "past tense", "summarize",
    "summarise", "summary", "traduis", "traduire", "traduction", "corrige", "übersetze*",
    "korrigiere", "rechtschreibung", "traduce", "traducir", "traduz*", "corrija", "traduci",
    "correggi", "翻译", "翻訳", "英語に", "改写", "校对",
];

#[rustfmt::skip]
const LOCAL_OP: &[&str] = &[
    "first sentence", "first line", "first paragraph", "last sentence", "last line", "one line",
    "one-line", "one sentence", "in a sentence", "one-liner", "how many words", "word count",
    "count the", "how many lines", "how many times", "what language", "première phrase",
    "premier paragraphe", "ersten satz", "erste satz", "primera frase", "primeira frase",
    "prima frase", "第一句", "最初の文", "一句话",
];

#[rustfmt::skip]
const CODE_TASK: &[&str] = &[
    "write a function", "write a python", "write a script", "write a bash", "write a sql",
    "write a regex", "write a query", "write a program", "write a class", "write a go",
    "write a rust", "write a java", "write a typescript", "write a kubernetes", "write unit",
    "implement*", "function that", "class that", "script that", "regex that", "query that",
    "middleware", "refactor*", "debug*", "fix this", "what's wrong with", "whats wrong with",
    "what is wrong with", "review this", "code review", "unit test*", "test cases", "edge case*",
    "thread-safe", "thread safe", "deadlock*", "race condition", "memory leak", "time complexity",
    "complexity", "algorithm*", "compiles", "doesn't compile", "won't compile", "not working",
    "doesn't work", "returns an empty", "re-render*", "iterative", "recursive", "o(1)", "o(n",
    "o(log", "big-o", "regex", "parse", "parser", "parsing", "third-party", "deep-merge*",
    "blocking queue", "lru", "cache in", "écris une fonction", "fonction", "schreibe eine funktion",
    "funktion", "programmier*", "escribe un algoritmo", "función", "algoritmo",
    "escreva uma função", "função", "scrivi una funzione", "funzione", "代码", "函数", "算法", "复杂度",
    "バグ", "関数", "コード",
];

#[rustfmt::skip]
const STACK_TRACE: &[&str] = &[
    "traceback (most recent call last)", "exception in thread", "error[e*", "panicked at",
    "segmentation fault", "stack trace", "stacktrace", "nullpointerexception", "typeerror",
    "referenceerror", "attributeerror", "keyerror", "valueerror", "indexerror",
    "concurrentmodificationexception", "oomkilled", "core dumped", "cannot read propert*",
    "uncaught", "fatal error", "unhandled exception",
];

#[rustfmt::skip]
const MATH: &[&str] = &[
    "prove", "proof", "show that", "derive", "derivation", "integral", "integrate", "∫",
    "derivative", "differentiate", "limit of", "eigen*", "theorem", "lemma", "equation*",
    "solve the", "system:", "probability", "expected number", "expected value", "variance",
    "matrix", "polynomial", "real solutions", "converge*", "irrational", "induction", "démontre*",
    "démonstration", "montrer que", "preuve", "intégrale", "équation*", "beweise", "beweis",
    "integral", "gleichung*", "wahrscheinlichkeit", "demuestra*", "demostrar", "ecuación*",
    "probabilidad", "derivada", "demonstre", "prove que", "equação", "dimostra*", "equazion*",
    "probabilità", "证明", "积分", "方程", "概率", "証明", "方程式", "確率", "微分", "mph", "km/h", "per hour",
    "twice as", "a third of", "how long would", "how long will", "how long does it take",
];

#[rustfmt::skip]
const REASONING: &[&str] = &[
    "analy*", "evaluate", "critique", "critici*", "compare", "comparison", "trade-off*",
    "tradeoff*", "trade off*", "pros and cons", "implications", "assess*", "justify", "argue",
    "arguments", "how they relate", "poke holes", "step by step", "walk me through", "strateg*",
    "what would happen", "how would you", "how should i", "how should we", "should i", "should we",
    "is it worth", "which is better", "better for", "performs better", "when to use", "when each",
    "or should i", "is it a good idea", "is it safe", "is it legal", "is this fair", "fair?",
    "estimat*", "optimal", "optimi*", "identification", "caus*", "explain why", "explain how",
    "why does", "why is", "why isn't", "why doesn't", "why do", "fallac*", "insights", "prioriti*",
    "risks", "risky", "negotiate", "push back", "viable", "model outline", "financial model",
    "root cause", "vs", "versus", "avantages", "inconvénients", "quels sont mes droits", "analyse",
    "vor- und nachteile", "begründung", "abwägen", "empfiehlst", "ventajas", "desventajas",
    "implicaciones", "me recomiendas", "paso a paso", "estratégia", "melhor estratégia",
    "vantagens", "quando usar", "diferença entre", "analizza", "rischi", "vantaggi", "svantaggi",
    "分析", "优化", "比较", "优缺点", "有效吗", "比較", "メリット", "デメリット", "問題点", "指摘", "分析して",
];

#[rustfmt::skip]
const EXPLAIN: &[&str] = &[
    "explain", "why", "how does", "how do", "difference between", "what causes", "expliqu*",
    "pourquoi", "erklär*", "warum", "explica*", "por qué", "explique", "spiega*", "perché", "为什么",
    "解释", "なぜ", "説明",
];

#[rustfmt::skip]
const DESIGN: &[&str] = &[
    "design", "architect*", "scalab*", "scale", "scaling", "system design", "microservice*",
    "monolith*", "migrat*", "sharding", "distributed", "high availability", "offline-first",
    "conflict*", "multi-tenant", "plan a", "plan for", "help me plan", "training plan",
    "study plan", "schedule", "itinerary", "roadmap", "business plan", "cap table", "concevoir",
    "conception", "architektur", "skaliere*", "diseña*", "arquitectura", "plan de negocio",
    "plano de negócios", "arquitetura", "microsserviços", "monólito", "progetta*", "architettura",
    "设计", "架构", "系统", "設計", "アーキテクチャ", "マイクロサービス",
];

#[rustfmt::skip]
const LEGAL: &[&str] = &[
    "legal", "illegal", "lawyer", "attorney", "law", "laws", "lawsuit", "sue", "court", "contract",
    "lease", "clause*", "landlord", "tenant", "evict*", "employer", "overtime", "redundan*",
    "paternity", "maternity", "wrongful", "insurer", "settlement", "liabil*", "gdpr", "complian*",
    "comply", "my rights", "hoa", "visa", "custody", "divorce", "copyright", "trademark",
    "non-compete", "arbitration", "tax", "taxes", "fiscal*", "droits", "propriétaire", "caution",
    "avocat", "licenciement", "contrat", "juridique", "arbeitgeber", "arbeitsvertrag", "kündigung",
    "vermieter", "anwalt", "darf er", "ley", "despedir", "despido", "contrato", "abogado",
    "arrendador", "arrendatario", "cláusula*", "abusiva*", "hora extra", "direitos", "advogado",
    "partita iva", "contratto", "avvocato", "diritti", "合同", "条款", "法律", "违法", "竞业", "契約", "法的",
    "弁護士", "条項",
];

#[rustfmt::skip]
const MEDICAL: &[&str] = &[
    "dose", "dosage", "mg", "medication*", "medicine", "interaction*", "side effect*", "symptom*",
    "pain", "fever", "swollen", "swallowed", "pregnan*", "headache*", "blurry vision", "chest",
    "diabet*", "kidney*", "blood test", "diagnos*", "ibuprofen", "paracetamol", "acetaminophen",
    "antibiotic*", "sertraline", "warfarin", "amoxicillin", "lisinopril", "birth control",
    "st john's wort", "infection", "overdose", "médecin", "fièvre", "urgences", "douleur",
    "enceinte", "médicament*", "kopfschmerzen", "schmerzen", "medikament*", "fieber", "schwanger*",
    "arzt", "médico", "fiebre", "dolor", "embarazada", "interacciones", "antibiótico", "warfarina",
    "medicamento*", "febbre", "dolore", "farmac*", "gravidanza", "症状", "药", "医生", "怀孕", "薬", "痛み",
    "妊娠",
];

#[rustfmt::skip]
const PUZZLE: &[&str] = &[
    "riddle", "puzzle", "all but", "overtake*", "knights", "knaves", "always lie*",
    "tell the truth", "pirates", "doors", "what place", "every label", "which box", "brain teaser",
    "trick question", "logic puzzle", "énigme", "rätsel", "acertijo", "enigma", "indovinello", "谜题",
    "逻辑题", "パズル", "なぞなぞ",
];

#[rustfmt::skip]
const CREATIVE: &[&str] = &[
    "poem", "story", "sonnet", "limerick", "haiku", "toast", "speech", "lyrics", "song",
    "cover letter", "product description", "essay", "novel", "poème", "histoire", "gedicht",
    "geschichte", "poema", "cuento", "poesia", "storia", "诗", "故事", "詩", "物語",
];

#[rustfmt::skip]
const CONSTRAINT: &[&str] = &[
    "must", "must not", "at least", "at most", "no more than", "not more than", "fewer than",
    "less than", "under", "exactly", "without", "never", "only", "don't use", "do not use",
    "does not use", "not use", "avoid", "ends with", "end with", "begins with", "starts with",
    "start with", "every line", "each", "keep all", "reuse", "handling", "reject", "but not",
    "rather than", "while", "pun", "rhyme scheme", "iambic", "acrostic", "the letter", "last line",
    "first line", "doit", "sans", "au moins", "exactement", "jamais", "muss", "mindestens", "genau",
    "ohne", "nie", "debe", "al menos", "exactamente", "sin", "nunca", "deve", "pelo menos",
    "exatamente", "sem", "almeno", "esattamente", "senza", "mai", "必须", "至少", "不超过", "不要", "必ず",
    "以内",
];

/// One lexicon entry: the phrase to find, its cue, and whether it must end on a word boundary.
struct Entry {
    cue: Cue,
    stem: bool,
    cjk: bool,
}

struct Lexicon {
    automaton: AhoCorasick,
    entries: Vec<Entry>,
}

static LEXICON: LazyLock<Option<Lexicon>> = LazyLock::new(build);

fn build() -> Option<Lexicon> {
    let lists: [(Cue, &[&str]); CUE_KINDS] = [
        (Cue::Greeting, GREETING),
        (Cue::Lookup, LOOKUP),
        (Cue::Transform, TRANSFORM),
        (Cue::LocalOp, LOCAL_OP),
        (Cue::CodeTask, CODE_TASK),
        (Cue::StackTrace, STACK_TRACE),
        (Cue::Math, MATH),
        (Cue::Reasoning, REASONING),
        (Cue::Explain, EXPLAIN),
        (Cue::Design, DESIGN),
        (Cue::Legal, LEGAL),
        (Cue::Medical, MEDICAL),
        (Cue::Puzzle, PUZZLE),
        (Cue::Creative, CREATIVE),
        (Cue::Constraint, CONSTRAINT),
    ];
    let mut patterns = Vec::new();
    let mut entries = Vec::new();
    for (cue, list) in lists {
        for phrase in list {
            let (text, stem) = match phrase.strip_suffix('*') {
                Some(t) => (t, true),
                None => (*phrase, false),
            };
            let cjk = text.chars().next().is_some_and(|c| c as u32 >= 0x2E80);
            patterns.push(text);
            entries.push(Entry { cue, stem, cjk });
        }
    }
    let automaton = AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::LeftmostLongest)
        .kind(Some(AhoCorasickKind::DFA))
        .build(&patterns)
        .or_else(|_| {
            AhoCorasick::builder().ascii_case_insensitive(true).match_kind(MatchKind::LeftmostLongest).build(&patterns)
        })
        .ok()?;
    Some(Lexicon { automaton, entries })
}

/// Whether the lexicon was built (it always is unless the automaton cannot be constructed).
#[cfg(test)]
pub fn ready() -> bool {
    LEXICON.is_some()
}

/// A byte that continues a word: ASCII alphanumeric, `_`, or part of a non-ASCII character.
fn wordish(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// Calls `hit(cue, start)` for every cue phrase found in `text` on the right boundaries.
pub fn scan(text: &str, mut hit: impl FnMut(Cue, usize)) {
    let Some(lexicon) = LEXICON.as_ref() else { return };
    let bytes = text.as_bytes();
    for m in lexicon.automaton.find_iter(text) {
        let Some(entry) = lexicon.entries.get(m.pattern().as_usize()) else { continue };
        if !entry.cjk {
            let before = m.start().checked_sub(1).and_then(|i| bytes.get(i)).copied();
            let first = bytes.get(m.start()).copied().unwrap_or(b' ');
            if wordish(first) && before.is_some_and(wordish) {
                continue;
            }
            let last = bytes.get(m.end().saturating_sub(1)).copied().unwrap_or(b' ');
            let after = bytes.get(m.end()).copied();
            if !entry.stem && wordish(last) && after.is_some_and(wordish) {
                continue;
            }
        }
        hit(entry.cue, m.start());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cues(text: &str) -> Vec<Cue> {
        let mut v = Vec::new();
        scan(text, |c, _| v.push(c));
        v
    }

    #[test]
    fn builds() {
        assert!(ready());
    }

    #[test]
    fn respects_word_boundaries_and_stems() {
        assert_eq!(cues("book"), vec![]);
        assert_eq!(cues("OK!"), vec![Cue::Greeting]);
        assert_eq!(cues("Analyzing it"), vec![Cue::Reasoning]);
        assert_eq!(cues("understand"), vec![]);
        assert_eq!(cues("请证明"), vec![Cue::Math]);
    }
}
